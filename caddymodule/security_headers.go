package caddymodule

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/apigw/caddy-apigw/secheaders"
)

func init() {
	caddy.RegisterModule(SecurityHeaders{})
	registerGatewayHandlerDirective("apigw_security_headers", parseSecurityHeaders)
}

// SecurityHeaders sets browser security headers on every response,
// including error responses (problem JSON) and 404s. The helmet preset
// (default) equals helmet 8's defaults; the api preset tightens CSP to
// default-src 'none' and frame-ancestors 'none', sends X-Frame-Options
// DENY and adds Cache-Control: no-store to authenticated responses.
// Strict-Transport-Security is only sent over HTTPS. The handler's values
// win over an upstream's (a duplicate X-Frame-Options would void it).
type SecurityHeaders struct {
	// Preset is "helmet" (default) or "api".
	Preset string `json:"preset,omitempty"`
	// Set overrides or adds headers (name -> value).
	Set map[string]string `json:"set,omitempty"`
	// Remove lists headers of the preset not to send; the upstream's
	// value of such a header, if any, passes unchanged (e.g. remove
	// Content-Security-Policy to let an HTML upstream send its own).
	Remove []string `json:"remove,omitempty"`

	set secheaders.Set
}

// CaddyModule returns the Caddy module information.
func (SecurityHeaders) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.apigw_security_headers",
		New: func() caddy.Module { return new(SecurityHeaders) },
	}
}

// Provision computes the header set.
func (s *SecurityHeaders) Provision(caddy.Context) error {
	if s.Preset == "" {
		s.Preset = "helmet"
	}
	set, err := secheaders.Compile(s.Preset, s.Set, s.Remove)
	if err != nil {
		return fmt.Errorf("apigw_security_headers: %w", err)
	}
	s.set = set
	return nil
}

// Validate checks header names and values.
func (s *SecurityHeaders) Validate() error {
	if err := secheaders.Check(s.Set, s.Remove); err != nil {
		return fmt.Errorf("apigw_security_headers: %w", err)
	}
	return nil
}

// apply writes the headers into h, once per response (the chain
// writer's header pass), replacing an upstream's value. Removed headers
// are not touched, so removing one from the preset leaves it to the
// upstream.
func (s *SecurityHeaders) apply(h http.Header, r *http.Request, cw *chainWriter) {
	for _, hv := range s.set.Headers {
		h[hv.Name] = cw.one(hv.Value)
	}
	if r.TLS != nil && s.set.HasHSTS {
		h[secheaders.HSTSHeader] = cw.one(s.set.HSTS)
	}
	if s.set.NoStoreAuthenticated && authenticated(r) {
		h["Cache-Control"] = cw.one(secheaders.NoStore)
	}
}

// authenticated reports whether r carries or established an identity.
func authenticated(r *http.Request) bool {
	if IdentityOf(r) != nil {
		return true
	}
	h := r.Header
	return h.Get("Authorization") != "" || h.Get("Cookie") != "" || h.Get("X-Api-Key") != ""
}

// ServeHTTP implements caddyhttp.MiddlewareHandler. The headers are
// written by the chain writer's header pass, just before the response
// header goes out, or, when the chain returns an error, before the error
// route writes the response (so problem JSON and 404s carry them too).
func (s *SecurityHeaders) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	cw, owner := joinChain(w, r)
	cw.sec = s
	return serveChain(cw, owner, w, r, next)
}

// parseSecurityHeaders sets up apigw_security_headers.
//
// Syntax:
//
//	apigw_security_headers [<preset>] {
//	    preset helmet|api
//	    <Header-Name> <value>
//	    -<Header-Name>
//	}
//
// Without arguments it sends helmet 8's default headers.
func parseSecurityHeaders(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	h.Next() // consume directive name
	s := new(SecurityHeaders)
	setPreset := func(p string) error {
		if err := secheaders.CheckPreset(p); err != nil {
			return h.Errf("apigw_security_headers: %v", err)
		}
		if s.Preset != "" && s.Preset != p {
			return h.Errf("apigw_security_headers: conflicting presets %q and %q: choose one, then override single headers", s.Preset, p)
		}
		s.Preset = p
		return nil
	}
	if h.NextArg() {
		if err := setPreset(h.Val()); err != nil {
			return nil, err
		}
		if h.NextArg() {
			return nil, h.ArgErr()
		}
	}
	for h.NextBlock(0) {
		name := h.Val()
		if name == "preset" {
			if !h.NextArg() {
				return nil, h.ArgErr()
			}
			if err := setPreset(h.Val()); err != nil {
				return nil, err
			}
			if h.NextArg() {
				return nil, h.ArgErr()
			}
			continue
		}
		if rest, ok := strings.CutPrefix(name, "-"); ok {
			if !secheaders.ValidName(rest) {
				return nil, h.Errf("apigw_security_headers: %q is not a valid header name", rest)
			}
			if h.NextArg() {
				return nil, h.Errf("apigw_security_headers: -%s removes a header and takes no value", rest)
			}
			s.Remove = append(s.Remove, http.CanonicalHeaderKey(rest))
			continue
		}
		if !secheaders.ValidName(name) {
			return nil, h.Errf("apigw_security_headers: %q is not a valid header name", name)
		}
		args := h.RemainingArgs()
		if len(args) != 1 {
			return nil, h.Errf("apigw_security_headers: %s needs exactly one value (quote values with spaces; -%s removes it)", name, name)
		}
		if s.Set == nil {
			s.Set = map[string]string{}
		}
		s.Set[http.CanonicalHeaderKey(name)] = args[0]
	}
	return s, nil
}

// Interface guards
var (
	_ caddyhttp.MiddlewareHandler = (*SecurityHeaders)(nil)
	_ caddy.Provisioner           = (*SecurityHeaders)(nil)
	_ caddy.Validator             = (*SecurityHeaders)(nil)
)
