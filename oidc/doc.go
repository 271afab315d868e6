// Package oidc holds caddy-apigw's delegated-identity logic without Caddy:
// the OpenID Connect relying party's login state (state, nonce, PKCE
// verifier and the browser binding, single use across instances through a
// store.Store), the return_to rules, the claim → identity mapping, lazy
// issuer discovery with backoff (built on github.com/coreos/go-oidc/v3),
// and an RFC 7662 token introspection client with a bounded cache and
// single-flight calls.
package oidc
