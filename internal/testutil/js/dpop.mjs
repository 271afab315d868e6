// dpop.mjs makes DPoP proofs with the npm dpop package (and, for proofs
// that package refuses to make, such as a stale iat or a private jwk, with
// the npm jose package), and DPoP-bound access tokens with jose: both
// implementations independent of ours.
//
//   node dpop.mjs '<spec json>'
//
// spec:
//   keys:   { <name>: { alg: "ES256"|"Ed25519"|"RS256", file: <path> } }
//           the proof key pair; loaded from file (a private JWK) when it
//           exists, else generated and saved there
//   tokens: { <name>: { key: <proof key name or null>, claims: {...},
//                       alg: "ES256", signer: <PKCS#8 PEM path>, kid } }
//           cnf.jkt = the proof key's RFC 7638 thumbprint when key is set
//   proofs: { <name>: { key, htm, htu, token: <token name or raw token>,
//                       nonce, via: "dpop"|"jose", iat, header: {...},
//                       claims: {...}, privateJwk: true, hmac: <secret> } }
//
// Prints {"jkt": {...}, "tokens": {...}, "proofs": {...}}.
import { generateProof, generateKeyPair, calculateThumbprint } from 'dpop';
import { SignJWT, importPKCS8, importJWK, exportJWK, calculateJwkThumbprint } from 'jose';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { createHash, randomUUID } from 'node:crypto';

const spec = JSON.parse(process.argv[2] || '{}');
const subtleAlg = {
  ES256: { name: 'ECDSA', namedCurve: 'P-256' },
  Ed25519: { name: 'Ed25519' },
  RS256: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
};
const joseAlg = { ES256: 'ES256', Ed25519: 'EdDSA', RS256: 'RS256' };

const keys = {};
const out = { jkt: {}, tokens: {}, proofs: {} };
for (const [name, k] of Object.entries(spec.keys || {})) {
  let pair;
  if (k.file && existsSync(k.file)) {
    const jwk = JSON.parse(readFileSync(k.file, 'utf8'));
    const priv = await crypto.subtle.importKey('jwk', jwk, subtleAlg[k.alg], true, ['sign']);
    const { d, p, q, dp, dq, qi, key_ops, ext, ...pubJwk } = jwk;
    const pub = await crypto.subtle.importKey('jwk', pubJwk, subtleAlg[k.alg], true, ['verify']);
    pair = { privateKey: priv, publicKey: pub };
  } else {
    pair = await generateKeyPair(k.alg, { extractable: true });
    if (k.file) {
      writeFileSync(k.file, JSON.stringify(await crypto.subtle.exportKey('jwk', pair.privateKey)));
    }
  }
  keys[name] = { ...k, pair };
  out.jkt[name] = await calculateThumbprint(pair.publicKey);
  // the thumbprint by jose must agree with the dpop package's
  const viaJose = await calculateJwkThumbprint(await exportJWK(pair.publicKey));
  if (viaJose !== out.jkt[name]) throw new Error('thumbprints disagree');
}

for (const [name, t] of Object.entries(spec.tokens || {})) {
  const claims = { ...t.claims };
  if (t.key) claims.cnf = { ...(claims.cnf || {}), jkt: out.jkt[t.key] };
  const signer = await importPKCS8(readFileSync(t.signer, 'utf8'), t.alg || 'ES256');
  out.tokens[name] = await new SignJWT(claims)
    .setProtectedHeader({ alg: t.alg || 'ES256', typ: 'at+jwt', kid: t.kid })
    .sign(signer);
}

for (const [name, p] of Object.entries(spec.proofs || {})) {
  const token = p.token === undefined ? undefined : (out.tokens[p.token] ?? p.token);
  const k = keys[p.key];
  if ((p.via || 'dpop') === 'dpop') {
    out.proofs[name] = await generateProof(k.pair, p.htu, p.htm, p.nonce, token, p.claims);
    continue;
  }
  // jose: full control of header and claims
  const claims = {
    jti: randomUUID(), htm: p.htm, htu: p.htu, iat: Math.floor(Date.now() / 1000),
    ...(token ? { ath: createHash('sha256').update(token).digest('base64url') } : {}),
    ...(p.nonce ? { nonce: p.nonce } : {}),
    ...(p.iat !== undefined ? { iat: p.iat } : {}),
    ...(p.claims || {}),
  };
  let header, key;
  if (p.hmac) {
    key = new TextEncoder().encode(p.hmac);
    header = { alg: 'HS256', typ: 'dpop+jwt', jwk: { kty: 'oct', k: Buffer.from(p.hmac).toString('base64url') } };
  } else {
    const jwk = await exportJWK(p.privateJwk ? k.pair.privateKey : k.pair.publicKey);
    delete jwk.key_ops; delete jwk.ext;
    header = { alg: joseAlg[k.alg], typ: 'dpop+jwt', jwk };
    key = k.pair.privateKey;
  }
  Object.assign(header, p.header || {});
  if (header.alg === 'none') {
    // jose refuses to make an unsecured JWS: assemble it by hand
    const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
    out.proofs[name] = `${b64(header)}.${b64(claims)}.`;
    continue;
  }
  out.proofs[name] = await new SignJWT(claims).setProtectedHeader(header).sign(key);
}
process.stdout.write(JSON.stringify(out) + '\n');
