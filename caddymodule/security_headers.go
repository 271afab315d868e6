package caddymodule

import (
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	caddy.RegisterModule(SecurityHeaders{})
	registerGatewayHandlerDirective("apigw_security_headers", parseSecurityHeaders)
}

// HelmetCSP is helmet 8's default Content-Security-Policy.
const HelmetCSP = "default-src 'self';base-uri 'self';font-src 'self' https: data:;form-action 'self';" +
	"frame-ancestors 'self';img-src 'self' data:;object-src 'none';script-src 'self';" +
	"script-src-attr 'none';style-src 'self' https: 'unsafe-inline';upgrade-insecure-requests"

// HSTSHeader is the Strict-Transport-Security header, set only on
// requests that arrived over TLS (browsers ignore it on plain HTTP).
const HSTSHeader = "Strict-Transport-Security"

// helmetHeaders are helmet 8's defaults (verified against helmet's own
// output by TestSecurityHeadersMatchHelmet).
var helmetHeaders = map[string]string{
	"Content-Security-Policy":           HelmetCSP,
	"Cross-Origin-Opener-Policy":        "same-origin",
	"Cross-Origin-Resource-Policy":      "same-origin",
	"Origin-Agent-Cluster":              "?1",
	"Referrer-Policy":                   "no-referrer",
	HSTSHeader:                          "max-age=31536000; includeSubDomains",
	"X-Content-Type-Options":            "nosniff",
	"X-Dns-Prefetch-Control":            "off",
	"X-Download-Options":                "noopen",
	"X-Frame-Options":                   "SAMEORIGIN",
	"X-Permitted-Cross-Domain-Policies": "none",
	"X-Xss-Protection":                  "0",
}

// apiOverrides turn the helmet preset into the api preset: a JSON API
// never needs to load or frame anything.
var apiOverrides = map[string]string{
	"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
	"X-Frame-Options":         "DENY",
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

	headers    []headerVal // HSTS excluded
	hsts       []string
	noStoreAPI bool
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
	all := make(map[string]string, len(helmetHeaders)+len(s.Set))
	for k, v := range helmetHeaders {
		all[k] = v
	}
	switch s.Preset {
	case "helmet":
	case "api":
		for k, v := range apiOverrides {
			all[k] = v
		}
		s.noStoreAPI = true
	default:
		return fmt.Errorf("apigw_security_headers: unknown preset %q (use helmet or api)", s.Preset)
	}
	set := make(map[string]bool, len(s.Set))
	for k, v := range s.Set {
		ck := http.CanonicalHeaderKey(k)
		set[ck] = true
		if ck == "Cache-Control" {
			s.noStoreAPI = false
		}
		all[ck] = v
	}
	for _, k := range s.Remove {
		ck := http.CanonicalHeaderKey(k)
		if set[ck] {
			return fmt.Errorf("apigw_security_headers: header %q is both set and removed: keep one", k)
		}
		if ck == "Cache-Control" {
			s.noStoreAPI = false
		}
		delete(all, ck)
	}
	s.hsts = nil
	if v, ok := all[HSTSHeader]; ok {
		s.hsts = []string{v}
	}
	delete(all, HSTSHeader)
	s.headers = s.headers[:0]
	for k, v := range all {
		s.headers = append(s.headers, headerVal{k, []string{v}})
	}
	sort.Slice(s.headers, func(i, j int) bool { return s.headers[i].name < s.headers[j].name })
	return nil
}

// Validate checks header names and values.
func (s *SecurityHeaders) Validate() error {
	for k, v := range s.Set {
		if !validHeaderName(k) {
			return fmt.Errorf("apigw_security_headers: %q is not a valid header name", k)
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			return fmt.Errorf("apigw_security_headers: the value of %s contains a line break or NUL", k)
		}
	}
	for _, k := range s.Remove {
		if !validHeaderName(k) {
			return fmt.Errorf("apigw_security_headers: %q is not a valid header name", k)
		}
	}
	return nil
}

// headerVal is a header and its value; the value is copied into the
// request's chain writer when written (see chainWriter.one), never put
// into a header map itself.
type headerVal struct {
	name string
	val  []string
}

// noStore is the Cache-Control value of the api preset.
const noStore = "no-store"

// apply writes the headers into h, once per response (the chain
// writer's header pass), replacing an upstream's value. Removed headers
// are not touched, so removing one from the preset leaves it to the
// upstream.
func (s *SecurityHeaders) apply(h http.Header, r *http.Request, cw *chainWriter) {
	for _, hv := range s.headers {
		h[hv.name] = cw.one(hv.val[0])
	}
	if r.TLS != nil && s.hsts != nil {
		h[HSTSHeader] = cw.one(s.hsts[0])
	}
	if s.noStoreAPI && authenticated(r) {
		h["Cache-Control"] = cw.one(noStore)
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
		if p != "helmet" && p != "api" {
			return h.Errf("apigw_security_headers: unknown preset %q (use helmet or api)", p)
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
			if !validHeaderName(rest) {
				return nil, h.Errf("apigw_security_headers: %q is not a valid header name", rest)
			}
			if h.NextArg() {
				return nil, h.Errf("apigw_security_headers: -%s removes a header and takes no value", rest)
			}
			s.Remove = append(s.Remove, http.CanonicalHeaderKey(rest))
			continue
		}
		if !validHeaderName(name) {
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
