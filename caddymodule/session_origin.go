package caddymodule

import (
	"net/http"

	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"go.uber.org/zap"

	"github.com/apigw/caddy-apigw/problem"
	"github.com/apigw/caddy-apigw/sessions"
)

// CheckSessionEndpointOrigin applies p (sessions.EndpointPolicy) to r.
// It returns nil when r may proceed, else the 403 csrf_rejected error to
// return from ServeHTTP, after writing the audit line. action says what
// was refused ("login", "logout") in the problem detail and the audit
// line.
func CheckSessionEndpointOrigin(r *http.Request, p sessions.OriginPolicy, action string) error {
	err := p.CheckEndpoint(r, action)
	if err == nil {
		return nil
	}
	Audit(r, "csrf_rejected", problem.CodeCSRFRejected, zap.String("route_kind", action))
	return Fail(problemFromError(err))
}

// parseOriginOption parses the origin options that apigw_login and
// apigw_logout share, at h's current token: `trusted_origin <origin>...`
// (checked by sessions.NewOriginPolicy) or `allow_cross_site`.
func parseOriginOption(h httpcaddyfile.Helper, dir string, trusted *[]string, allowCrossSite *bool) error {
	if h.Val() == "allow_cross_site" {
		if h.NextArg() {
			return h.ArgErr()
		}
		*allowCrossSite = true
		return nil
	}
	args := h.RemainingArgs()
	if len(args) == 0 {
		return h.ArgErr()
	}
	if _, err := sessions.EndpointPolicy(args); err != nil {
		return h.Errf("%s %v", dir, err)
	}
	*trusted = append(*trusted, args...)
	return nil
}
