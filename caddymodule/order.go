// Package caddymodule adapts caddy-apigw's domain packages to Caddy:
// module registration, Caddyfile directives, the apigw app (shared store),
// the problem renderer and admin API routes.
package caddymodule

import "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"

// The whole directive chain is ordered here, in one place, so users need no
// `order` lines and the chain reads as in DESIGN.md:
//
//	edge (request hardening, first of all, see edge_caddyfile.go) →
//	request id → security headers → cors (a preflight ends here, with
//	the security headers already set) → error scrubbing → … →
//	auth (api key | jwt | session) → csrf → signature → authorize →
//	rate limit → validate → upgrade → … → login/logout → respond →
//	strip credentials → reverse_proxy
//
// Successive Before calls on one anchor keep their call order.
func init() {
	// first of all: before tracing, so no matcher of the site runs on a
	// request the edge would refuse
	httpcaddyfile.RegisterDirectiveOrder("apigw_edge", httpcaddyfile.Before, "tracing")
	for _, d := range []string{"apigw_request_id", "apigw_security_headers", "apigw_cors", "apigw_errors"} {
		httpcaddyfile.RegisterDirectiveOrder(d, httpcaddyfile.Before, "map")
	}
	for _, d := range []string{
		"apigw_api_key", "apigw_jwt", "apigw_introspect", "apigw_mtls", "apigw_session", "apigw_csrf", "apigw_signature",
		"apigw_http_signature",
		"apigw_authorize", "apigw_rate_limit", "apigw_validate",
	} {
		httpcaddyfile.RegisterDirectiveOrder(d, httpcaddyfile.Before, "forward_auth")
	}
	// a route's opted-in protocol upgrade (apigw_edge sets every Upgrade
	// aside) is restored only after its auth, limit and validation ran
	httpcaddyfile.RegisterDirectiveOrder("apigw_upgrade", httpcaddyfile.Before, "forward_auth")
	for _, d := range []string{"apigw_login", "apigw_logout", "apigw_oidc"} {
		httpcaddyfile.RegisterDirectiveOrder(d, httpcaddyfile.Before, "respond")
	}
	// the last thing before the upstream: after every directive that
	// reads a credential (auth, forward_auth, request_header, respond)
	httpcaddyfile.RegisterDirectiveOrder("apigw_strip_credentials", httpcaddyfile.Before, "reverse_proxy")
}
