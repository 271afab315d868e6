// oidc_browser.mjs <gateway base URL>
//
// Drives a real headless Chromium (Debian's, via puppeteer-core) through
// the demo's OpenID Connect login: a navigation to /app/profile without a
// session is sent to /auth/login, on to the issuer (oidc_provider.mjs,
// which logs in without a page), back to /auth/callback and to the page
// asked for. It prints one JSON object of observations for the Go test:
// where the browser ended, what the upstream saw, the cookies the browser
// stored, what scripts can read, and the logout.
import { launchChromium } from './chromium.mjs';

const [gateway] = process.argv.slice(2);
const browser = await launchChromium();
const out = {};
try {
  const page = await browser.newPage();
  const hops = [];
  page.on('response', (r) => { if (r.frame() === page.mainFrame() && r.request().isNavigationRequest()) hops.push(`${r.status()} ${new URL(r.url()).pathname}`); });

  // 1. a navigation without a session ends, after the whole login, on the page
  await page.goto(gateway + '/app/profile?tab=1', { waitUntil: 'load' });
  out.finalURL = page.url();
  out.hops = hops;
  out.upstream = JSON.parse(await page.evaluate(() => document.body.innerText));

  // 2. what the browser stored, and what scripts see
  out.cookies = (await page.cookies(gateway)).map((c) => ({ name: c.name, httpOnly: c.httpOnly, sameSite: c.sameSite, path: c.path }));
  out.cookieVisibleToJS = await page.evaluate(() => document.cookie);

  // 3. logout from the page itself (same origin)
  out.logout = await page.evaluate(async () => {
    const r = await fetch('/auth/logout', { method: 'POST' });
    return { status: r.status, body: await r.json() };
  });
  out.afterLogout = await page.evaluate(async () => (await fetch('/app/profile', { headers: { Accept: 'application/json' } })).status);
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
