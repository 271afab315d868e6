// sign.mjs signs HTTP requests with the npm http-message-signatures
// package (RFC 9421), an implementation independent of ours.
//
//   node sign.mjs '<JSON array of specs>'
//
// A spec: {
//   "method": "POST", "url": "http://127.0.0.1:8080/sig/x?a=1",
//   "headers": {"content-type": "application/json"},   // optional
//   "body": "...", "repeat": <n>,                       // optional; body repeated n times
//   "digest": "sha-256" | "sha-512",                    // adds Content-Digest of body
//   "key": "<PKCS#8 PEM path>" | "secret": "<hmac secret>",
//   "alg": "ed25519", "keyid": "demo-ed25519", "label": "sig1",
//   "fields": ["@method", "@authority", "@path", ...],
//   "params": ["created", "keyid", "alg", "expires", "nonce"], // optional
//   "created": <unix seconds>, "expires": <unix seconds>, "nonce": "…"  // optional
// }
// Prints a JSON array: for each spec, the headers to send (every header
// of the spec plus Content-Digest, Signature and Signature-Input).
import { httpbis, createSigner } from 'http-message-signatures';
import { createHash, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';

const specs = JSON.parse(process.argv[2]);
const out = [];
for (const s of specs) {
  const headers = Object.assign({}, s.headers || {});
  const body = (s.body || '').repeat(s.repeat || 1);
  if (s.digest) {
    const alg = s.digest === 'sha-512' ? 'sha512' : 'sha256';
    const sum = createHash(alg).update(Buffer.from(body, 'utf8')).digest('base64');
    headers['content-digest'] = `${s.digest}=:${sum}:`;
  }
  const key = s.secret !== undefined
    ? Buffer.from(s.secret, 'utf8')
    : createPrivateKey(readFileSync(s.key, 'utf8'));
  const paramValues = {};
  if (s.created !== undefined) paramValues.created = new Date(s.created * 1000);
  if (s.expires !== undefined) paramValues.expires = new Date(s.expires * 1000);
  if (s.nonce !== undefined) paramValues.nonce = s.nonce;
  const signed = await httpbis.signMessage({
    key: createSigner(key, s.alg, s.keyid),
    name: s.label,
    fields: s.fields,
    params: s.params || ['created', 'keyid', 'alg', 'expires', ...(s.nonce !== undefined ? ['nonce'] : [])],
    paramValues,
  }, { method: s.method, url: s.url, headers });
  out.push(signed.headers);
}
process.stdout.write(JSON.stringify(out) + '\n');
