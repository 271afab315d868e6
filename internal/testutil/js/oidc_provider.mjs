// oidc_provider.mjs <port> <client_id> <client_secret> <redirect_uris> <post_logout_redirect_uris>
// (the URI lists are comma-separated)
//
// A real, third-party OpenID Provider for caddy-apigw's tests: the npm
// oidc-provider package (OpenID Certified), issuer http://127.0.0.1:<port>,
// with one confidential client (client_secret_basic, PKCE required, the
// gateway's redirect URI), introspection, revocation, client credentials
// and RP-initiated logout enabled, opaque access tokens.
//
// The login interaction is driven programmatically: /interaction/<uid>
// logs in the current test account (default "alice") and grants the
// requested scopes, with no page. Test-only control routes:
//   GET  /test/counts                    {"introspection": n, "token": n}
//   POST /test/account?id=<sub>          the account the next login uses
//   POST /test/token?sub=&scope=&jkt=    mints an opaque access token
//                                        (jkt: sender-constrained, cnf.jkt)
//   POST /test/introspection?mode=huge|html|normal
//                                        makes introspection answers bad
// It prints "ready <issuer>" on stdout once it listens.
import http from 'node:http';
import Provider from 'oidc-provider';

const [port, clientId, clientSecret, redirectURI, postLogoutURI] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;
let account = 'alice';
let introspectionMode = 'normal';
const counts = { introspection: 0, token: 0 };

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: redirectURI.split(','),
    post_logout_redirect_uris: postLogoutURI.split(','),
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['authorization_code', 'client_credentials'],
    response_types: ['code'],
    scope: 'openid profile email read write admin',
  }],
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: false },
    introspection: { enabled: true },
    revocation: { enabled: true },
    clientCredentials: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  claims: { openid: ['sub'], profile: ['name'], email: ['email'] },
  // name and email in the ID token itself (not only at userinfo)
  conformIdTokenClaims: false,
  scopes: ['openid', 'profile', 'email', 'read', 'write', 'admin'],
  cookies: { keys: ['apigw-test-cookie-key-0123456789abcdef'] },
  async findAccount(_ctx, id) {
    return {
      accountId: id,
      async claims() { return { sub: id, name: `${id[0].toUpperCase()}${id.slice(1)} Example`, email: `${id}@example.com` }; },
    };
  },
});
provider.on('server_error', (_ctx, err) => console.error('server_error', err));

async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params, session } = details;
  if (prompt.name === 'login') {
    await provider.interactionFinished(req, res, { login: { accountId: account } }, { mergeWithLastSubmission: false });
    return;
  }
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  const d = prompt.details;
  if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
  if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
  if (d.missingResourceScopes) {
    for (const [indicator, scopes] of Object.entries(d.missingResourceScopes)) grant.addResourceScope(indicator, scopes.join(' '));
  }
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
}

async function mint(u) {
  const sub = u.searchParams.get('sub') || 'alice';
  const scope = u.searchParams.get('scope') || 'read';
  const client = await provider.Client.find(clientId);
  const grant = new provider.Grant({ accountId: sub, clientId });
  grant.addOIDCScope('openid');
  const grantId = await grant.save();
  const at = new provider.AccessToken({ client, accountId: sub, grantId, scope, gty: 'authorization_code' });
  const jkt = u.searchParams.get('jkt');
  if (jkt) at.jkt = jkt;
  return at.save();
}

const json = (res, status, body) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};

const callback = provider.callback();
const server = http.createServer(async (req, res) => {
  const u = new URL(req.url, issuer);
  try {
    if (u.pathname.startsWith('/interaction/')) return await interaction(req, res);
    if (u.pathname === '/test/counts') return json(res, 200, counts);
    if (u.pathname === '/test/account') { account = u.searchParams.get('id'); return json(res, 200, { account }); }
    if (u.pathname === '/test/token') return json(res, 200, { access_token: await mint(u) });
    if (u.pathname === '/test/introspection') { introspectionMode = u.searchParams.get('mode'); return json(res, 200, { mode: introspectionMode }); }
    if (u.pathname === '/token/introspection') {
      counts.introspection++;
      if (introspectionMode === 'huge') return json(res, 200, { active: true, sub: 'x', pad: 'x'.repeat(200000) });
      if (introspectionMode === 'html') { res.writeHead(200, { 'content-type': 'text/html' }); return res.end('<html>oops</html>'); }
    }
    if (u.pathname === '/token') counts.token++;
    return callback(req, res);
  } catch (err) {
    console.error(err);
    json(res, 500, { error: 'server_error' });
  }
});
server.listen(Number(port), '127.0.0.1', () => console.log(`ready ${issuer}`));
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
