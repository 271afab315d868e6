package caddymodule

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/apigw/caddy-apigw/failure"
	"github.com/apigw/caddy-apigw/problem"
	"github.com/apigw/caddy-apigw/sessions"
)

func init() {
	caddy.RegisterModule(Logout{})
	registerGatewayHandlerDirective("apigw_logout", parseLogout)
}

// Logout is a terminal handler that ends the session of the request's
// cookie on the server (on every instance sharing the store) and clears
// the cookie. It answers POST (or DELETE) with 204. Without a session
// cookie it answers 401 missing_credentials; with an ended, expired or
// unknown one 401 invalid_session (and still clears the cookie).
//
// A logout applies exactly the origin check of apigw_login
// (CheckSessionEndpointOrigin): a cross-site request (Sec-Fetch-Site, or
// Origin, or Referer showing another site that is not a trusted origin)
// gets 403 csrf_rejected and the session stays alive. SameSite=Lax alone
// is not enough: it lets the cookie through on requests from other
// origins of the same site, and a SameSite=None cookie on any.
type Logout struct {
	// TrustedOrigins lists other sites ("https://app.example.com") whose
	// pages may post to the logout, as for apigw_login.
	TrustedOrigins []string `json:"trusted_origins,omitempty"`
	// AllowCrossSite turns the origin check off. Default: false.
	AllowCrossSite bool `json:"allow_cross_site,omitempty"`

	policy sessions.OriginPolicy
	mgr    *sessions.Manager
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Logout) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.apigw_logout",
		New: func() caddy.Module { return new(Logout) },
	}
}

// Provision connects the handler to the shared session store.
func (l *Logout) Provision(ctx caddy.Context) error {
	l.logger = ctx.Logger()
	policy, err := sessions.EndpointPolicy(l.TrustedOrigins)
	if err != nil {
		return fmt.Errorf("apigw_logout %w", err)
	}
	l.policy = policy
	l.mgr, err = provisionSessions(ctx, "apigw_logout")
	return err
}

// ServeHTTP ends the session. It is terminal.
func (l *Logout) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	if r.Method != http.MethodPost && r.Method != http.MethodDelete {
		return Fail(problem.New(http.StatusMethodNotAllowed, problem.CodeMethodNotAllowed, "log out with POST").
			WithHeader("Allow", "POST, DELETE"))
	}
	if !l.AllowCrossSite {
		if err := CheckSessionEndpointOrigin(r, l.policy, "logout"); err != nil {
			return err
		}
	}
	ended, err := l.mgr.Logout(r.Context(), r.Header)
	if errors.Is(err, failure.ErrUnavailable) {
		logStoreError(l.logger, "ending session failed", err)
		return Fail(problemFromError(err))
	}
	w.Header().Set("Cache-Control", "no-store")
	if !errors.Is(err, failure.ErrMissingCredentials) {
		http.SetCookie(w, l.mgr.ClearCookie(r.TLS != nil))
	}
	if err != nil {
		p := problemFromError(err)
		if errors.Is(err, failure.ErrInvalidSession) {
			Audit(r, "logout_rejected", p.Code)
		}
		return Fail(p.WithHeader("WWW-Authenticate", sessionChallenge(l.mgr.CookieName())))
	}
	Audit(r, "logout", "", zap.Int("sessions_ended", ended))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// parseLogout sets up the logout handler. Syntax:
//
//	apigw_logout [<matcher>] {
//	    trusted_origin <origin>...   # other sites whose pages may log out
//	    allow_cross_site             # turn off the logout CSRF check
//	}
//
// The cookie and the store come from the global apigw { session { ... } }
// option.
func parseLogout(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	h.Next() // consume directive name
	if h.NextArg() {
		return nil, h.ArgErr()
	}
	l := new(Logout)
	for h.NextBlock(0) {
		switch opt := h.Val(); opt {
		case "trusted_origin", "allow_cross_site":
			if err := parseOriginOption(h, "apigw_logout", &l.TrustedOrigins, &l.AllowCrossSite); err != nil {
				return nil, err
			}
		default:
			return nil, h.Errf("apigw_logout: unrecognized option %q (known: trusted_origin, allow_cross_site; the cookie and store come from the global apigw { session { ... } } option)", opt)
		}
	}
	return l, nil
}

// Interface guards
var (
	_ caddyhttp.MiddlewareHandler = (*Logout)(nil)
	_ caddy.Provisioner           = (*Logout)(nil)
)
