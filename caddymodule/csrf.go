package caddymodule

import (
	"fmt"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/apigw/caddy-apigw/problem"
	"github.com/apigw/caddy-apigw/sessions"
)

func init() {
	caddy.RegisterModule(CSRF{})
	registerGatewayHandlerDirective("apigw_csrf", parseCSRF)
}

// CSRF modes.
const (
	// CSRFModeOrigin rejects unsafe requests whose Sec-Fetch-Site, Origin
	// or (as a fallback) Referer shows another site.
	CSRFModeOrigin = "origin"
	// CSRFModeDoubleSubmit requires unsafe requests to echo the session's
	// CSRF token (readable from a cookie) in a header.
	CSRFModeDoubleSubmit = "double_submit"
)

// CSRF defends cookie-authenticated requests against cross-site request
// forgery. It acts only on requests that apigw_session authenticated
// (API-key and bearer requests carry no ambient credentials and pass
// untouched) and only on unsafe methods (POST, PUT, PATCH, DELETE, ...).
// A rejected request gets 403 csrf_rejected. The apigw_session directive
// emits this handler after the authentication handler by itself.
type CSRF struct {
	// Mode is "origin" (default) or "double_submit".
	//
	// origin: a request is accepted when Sec-Fetch-Site is same-origin
	// (or none: typed by the user), else when its Origin (or, without
	// one, its Referer) is the site's own origin (scheme and Host of the
	// request) or a trusted origin. The scheme is the one Caddy sees: if
	// a TLS-terminating proxy sits in front of Caddy, list the public
	// https origin in trusted_origins.
	//
	// double_submit: the handler sets a cookie (csrf_cookie, readable by
	// the page's scripts, never HttpOnly) holding a token derived from the
	// session with HMAC-SHA256, and unsafe requests must send the same
	// token in csrf_header. The token is bound to the session, so a
	// cookie planted by another (sub)domain never matches. Login also
	// returns it as "csrf_token".
	Mode string `json:"mode,omitempty"`
	// TrustedOrigins lists other origins ("https://app.example.com")
	// whose pages may send unsafe requests in origin mode.
	TrustedOrigins []string `json:"trusted_origins,omitempty"`
	// AllowMissingOrigin accepts unsafe requests that carry none of
	// Sec-Fetch-Site, Origin and Referer (scripts, not browsers). Default:
	// false; every current browser sends Origin on unsafe requests.
	AllowMissingOrigin bool `json:"allow_missing_origin,omitempty"`
	// Header is the request header carrying the token in double_submit
	// mode. Default: X-CSRF-Token.
	Header string `json:"header,omitempty"`
	// Cookie is the name of the token cookie in double_submit mode.
	// Default: apigw_csrf ("__Host-apigw_csrf" when the session cookie
	// uses the __Host- prefix).
	Cookie string `json:"cookie,omitempty"`

	policy sessions.OriginPolicy
	token  sessions.DoubleSubmit
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (CSRF) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.apigw_csrf",
		New: func() caddy.Module { return new(CSRF) },
	}
}

// Provision sets defaults and normalizes the trusted origins.
func (c *CSRF) Provision(ctx caddy.Context) error {
	c.logger = ctx.Logger()
	if c.Mode == "" {
		c.Mode = CSRFModeOrigin
	}
	mgr, err := provisionSessions(ctx, "apigw_csrf")
	if err != nil {
		return err
	}
	c.token = mgr.DoubleSubmit(c.Header, c.Cookie)
	c.Header, c.Cookie = c.token.Header, c.token.Cookie
	if c.policy, err = sessions.NewOriginPolicy(c.TrustedOrigins, c.AllowMissingOrigin, false); err != nil {
		return fmt.Errorf("apigw_csrf %w", err)
	}
	return nil
}

// Validate checks the mode.
func (c *CSRF) Validate() error {
	switch c.Mode {
	case CSRFModeOrigin, CSRFModeDoubleSubmit:
		return nil
	}
	return fmt.Errorf("apigw_csrf: mode %q: use origin or double_submit", c.Mode)
}

// ServeHTTP checks session-authenticated unsafe requests.
func (c *CSRF) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	id := IdentityOf(r)
	if id == nil || id.Method != "session" {
		return next.ServeHTTP(w, r)
	}
	var err error
	switch c.Mode {
	case CSRFModeDoubleSubmit:
		expected := c.expectedToken(r)
		if ck := c.token.SetCookie(r, expected); ck != nil {
			http.SetCookie(w, ck)
		}
		err = c.token.Check(r, expected)
	default:
		err = c.policy.Check(r)
	}
	if err != nil {
		Audit(r, "csrf_rejected", problem.CodeCSRFRejected, zap.String("mode", c.Mode))
		return Fail(problemFromError(err))
	}
	return next.ServeHTTP(w, r)
}

func (c *CSRF) expectedToken(r *http.Request) string {
	repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if !ok {
		return ""
	}
	v, ok := repl.Get(SessionCSRFTokenVar)
	if !ok {
		return ""
	}
	return caddy.ToString(v)
}

// unmarshalOption parses one CSRF option shared by apigw_csrf and
// apigw_session; ok is false for an option it does not know.
func (c *CSRF) unmarshalOption(d *caddyfile.Dispenser, opt string) (bool, error) {
	switch opt {
	case "trusted_origin":
		args := d.RemainingArgs()
		if len(args) == 0 {
			return true, d.ArgErr()
		}
		if _, err := sessions.NewOriginPolicy(args, false, false); err != nil {
			return true, d.Errf("%v", err)
		}
		c.TrustedOrigins = append(c.TrustedOrigins, args...)
	case "allow_missing_origin":
		if d.NextArg() {
			return true, d.ArgErr()
		}
		c.AllowMissingOrigin = true
	case "csrf_header":
		if !d.AllArgs(&c.Header) {
			return true, d.ArgErr()
		}
	case "csrf_cookie":
		if !d.AllArgs(&c.Cookie) {
			return true, d.ArgErr()
		}
	default:
		return false, nil
	}
	return true, nil
}

// parseCSRF sets up the CSRF handler from Caddyfile tokens (apigw_session
// emits it by itself; use this directive to tune it separately). Syntax:
//
//	apigw_csrf [<matcher>] [origin|double_submit] {
//	    mode origin|double_submit
//	    trusted_origin <origin>...
//	    allow_missing_origin
//	    csrf_header <header>
//	    csrf_cookie <name>
//	}
func parseCSRF(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	h.Next() // consume directive name
	c := new(CSRF)
	if h.NextArg() {
		c.Mode = h.Val()
		if h.NextArg() {
			return nil, h.ArgErr()
		}
	}
	for h.NextBlock(0) {
		opt := h.Val()
		if opt == "mode" {
			if !h.AllArgs(&c.Mode) {
				return nil, h.ArgErr()
			}
			continue
		}
		ok, err := c.unmarshalOption(h.Dispenser, opt)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, h.Errf("apigw_csrf: unrecognized option %q (known: mode, trusted_origin, allow_missing_origin, csrf_header, csrf_cookie)", opt)
		}
	}
	if c.Mode != "" {
		if err := c.Validate(); err != nil {
			return nil, h.Errf("%v", err)
		}
	}
	return c, nil
}

// Interface guards
var (
	_ caddyhttp.MiddlewareHandler = (*CSRF)(nil)
	_ caddy.Provisioner           = (*CSRF)(nil)
	_ caddy.Validator             = (*CSRF)(nil)
)
