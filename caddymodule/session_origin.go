package caddymodule

import (
	"fmt"
	"net/http"

	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"go.uber.org/zap"

	"github.com/apigw/caddy-apigw/problem"
	"github.com/apigw/caddy-apigw/sessions"
)

// SessionEndpointPolicy returns the origin policy of the endpoints that
// start or end a browser's session (apigw_login, apigw_logout, an OIDC
// logout): a request whose Sec-Fetch-Site is cross-site, or (without
// Sec-Fetch-Site) whose Origin, else Referer, is neither the site's own
// origin nor one of trusted, is refused. Same-site pages and clients that
// send none of these headers (scripts) are accepted: such endpoints carry
// no ambient authority a script could not use anyway. directive names the
// caller in configuration errors.
func SessionEndpointPolicy(directive string, trusted []string) (sessions.OriginPolicy, error) {
	p := sessions.OriginPolicy{AllowMissing: true, AllowSameSite: true}
	for _, o := range trusted {
		norm, err := sessions.NormalizeOrigin(o)
		if err != nil {
			return p, fmt.Errorf("%s trusted_origin: %w", directive, err)
		}
		p.Trusted = append(p.Trusted, norm)
	}
	return p, nil
}

// CheckSessionEndpointOrigin applies p (from SessionEndpointPolicy) to r.
// It returns nil when r may proceed, else the 403 csrf_rejected error to
// return from ServeHTTP, after writing the audit line. action says what
// was refused ("login", "logout") in the problem detail and the audit
// line. Login and logout call this one function, so both endpoints refuse
// exactly the same requests.
func CheckSessionEndpointOrigin(r *http.Request, p sessions.OriginPolicy, action string) error {
	reason := p.Check(r)
	if reason == "" {
		return nil
	}
	Audit(r, "csrf_rejected", problem.CodeCSRFRejected, zap.String("route_kind", action))
	return Fail(problem.New(http.StatusForbidden, problem.CodeCSRFRejected, action+" from another site refused: "+reason))
}

// parseOriginOption parses the origin options that apigw_login and
// apigw_logout share, at h's current token: `trusted_origin <origin>...`
// (each checked with sessions.NormalizeOrigin) or `allow_cross_site`.
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
	for _, o := range args {
		if _, err := sessions.NormalizeOrigin(o); err != nil {
			return h.Errf("%s trusted_origin: %v", dir, err)
		}
	}
	*trusted = append(*trusted, args...)
	return nil
}
