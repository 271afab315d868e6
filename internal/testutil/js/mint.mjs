// mint.mjs signs a JWT with the npm jose package, an implementation
// independent of ours.
//
//   node mint.mjs <alg> <key> '<claims json>' '[<header json>]'
//
// <key>: for HS*, the secret string; for other algs, a path to a PKCS#8
// PEM private key. Prints the compact JWS.
import { SignJWT, importPKCS8 } from 'jose';
import { readFileSync } from 'node:fs';

const [alg, key, claimsJSON, headerJSON] = process.argv.slice(2);
const claims = JSON.parse(claimsJSON || '{}');
const header = Object.assign({ alg, typ: 'JWT' }, JSON.parse(headerJSON || '{}'));
let secret;
if (alg.startsWith('HS')) {
  secret = new TextEncoder().encode(key);
} else {
  secret = await importPKCS8(readFileSync(key, 'utf8'), alg, { extractable: false });
}
const jwt = await new SignJWT(claims).setProtectedHeader(header).sign(secret);
process.stdout.write(jwt + '\n');
