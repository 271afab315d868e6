// session_browser.mjs <gateway base URL> <upstream base URL>
//
// Drives a real headless Chromium (Debian's, via puppeteer-core) through
// the session flow of caddymodule/testdata/sessions.Caddyfile and prints
// one JSON object of observations for the Go test to assert on:
// the page logs in with fetch, cannot read the HttpOnly cookie from
// document.cookie, the browser stores the cookie and sends it back on a
// navigation, a cross-site form POST is refused, and after logout the
// session is gone.
import { launchChromium } from './chromium.mjs';

const [gateway, upstream] = process.argv.slice(2);
const browser = await launchChromium();
const out = {};
try {
  const page = await browser.newPage();
  const bodyOf = async () => JSON.parse(await page.evaluate(() => document.body.innerText));

  // 1. the page logs in with fetch and reports what its scripts see
  await page.goto(gateway + '/page');
  await page.waitForSelector('body[data-done]', { timeout: 20000 });
  out.page = JSON.parse(await page.$eval('#r', (e) => e.textContent));

  // 2. what the browser stored
  const cookies = await page.cookies(gateway);
  out.cookies = cookies.map((c) => ({ name: c.name, httpOnly: c.httpOnly, sameSite: c.sameSite, path: c.path, secure: c.secure, session: c.session, valueLength: c.value.length }));

  // 3. the cookie goes back on a top-level navigation
  await page.goto(gateway + '/session/profile');
  out.navigation = await bodyOf();

  // 4. a page on another origin (same site: 127.0.0.1, another port, so
  // SameSite=Lax still sends the cookie) submits a form to the gateway
  await page.goto(upstream + '/evil');
  await Promise.all([page.waitForNavigation(), page.$eval('#f', (f) => f.submit())]);
  out.crossSiteForm = await bodyOf();

  // 5. logout from the site itself, then the session is gone
  await page.goto(gateway + '/page-blank-404');
  out.logout = await page.evaluate(async () => (await fetch('/logout', { method: 'POST' })).status);
  out.cookiesAfterLogout = (await page.cookies(gateway)).map((c) => c.name);
  await page.goto(gateway + '/session/profile');
  out.afterLogout = await bodyOf();
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
