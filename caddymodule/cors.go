package caddymodule

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/apigw/caddy-apigw/origin"
)

func init() {
	caddy.RegisterModule(CORS{})
	registerGatewayHandlerDirective("apigw_cors", parseCORS)
}

// DefaultCORSMethods are the methods granted when none are configured.
var DefaultCORSMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"}

// DefaultCORSHeaders are the request headers granted when none are
// configured: what the gateway's own auth and validation read.
var DefaultCORSHeaders = []string{
	"Accept", "Accept-Language", "Content-Language", "Content-Type", "Authorization",
	"X-Api-Key", "X-Request-Id", "X-Csrf-Token", "X-Signature", "If-Match", "If-None-Match",
	"DPoP", // RFC 9449 proofs (apigw_jwt dpop)
}

// DefaultCORSExpose are the response headers always exposed to scripts:
// the rate-limit headers and the request id.
var DefaultCORSExpose = []string{"RateLimit", "RateLimit-Policy", "Retry-After", "X-Request-ID"}

// CORS answers cross-origin requests for an allow-list of origins. A
// preflight (OPTIONS with Origin and Access-Control-Request-Method) is
// answered 204 right here, before auth and rate limits, because the
// directive sits at the top of the site. An origin that is not allowed
// gets no Access-Control-* header at all, so the browser blocks the
// response. Every response carries Vary: Origin.
type CORS struct {
	// Origins are allowed origins: exact ("https://app.example.com",
	// "http://localhost:3000"), a pattern whose leftmost label(s) are a
	// wildcard ("https://*.example.com": any subdomain, never
	// evil-example.com or example.com itself), or "*" (any origin; not
	// with credentials).
	Origins []string `json:"origins,omitempty"`
	// Methods are the methods a preflight may grant (default GET, HEAD,
	// POST, PUT, PATCH, DELETE).
	Methods []string `json:"methods,omitempty"`
	// Headers are the request headers a preflight may grant (default:
	// DefaultCORSHeaders); "*" grants whatever the preflight asks for.
	Headers []string `json:"headers,omitempty"`
	// Expose are response headers exposed to scripts in addition to
	// RateLimit, RateLimit-Policy, Retry-After and X-Request-ID.
	Expose []string `json:"expose,omitempty"`
	// Credentials allows cookies and Authorization on cross-origin requests
	// (Access-Control-Allow-Credentials: true).
	Credentials bool `json:"credentials,omitempty"`
	// MaxAge is how long browsers may cache a preflight (default 10m).
	MaxAge caddy.Duration `json:"max_age,omitempty"`

	matcher      origin.Matcher
	methods      map[string]bool
	headers      map[string]bool
	anyHeader    bool
	allowMethods []string
	allowHeaders []string
	expose       []string
	maxAge       []string
}

// Header values of the handler; copied into the chain writer when written
// (see chainWriter.one), never put into a header map themselves.
var (
	varyOrigin    = []string{"Origin"}
	valTrue       = []string{"true"}
	valStar       = []string{"*"}
	varyPreflight = []string{"Origin", "Access-Control-Request-Method", "Access-Control-Request-Headers"}
)

// CaddyModule returns the Caddy module information.
func (CORS) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.apigw_cors",
		New: func() caddy.Module { return new(CORS) },
	}
}

// Provision compiles the origin list and the header values.
func (c *CORS) Provision(caddy.Context) error {
	m, err := origin.NewMatcher(c.Origins)
	if err != nil {
		return fmt.Errorf("apigw_cors: %w", err)
	}
	c.matcher = m
	methods := append([]string(nil), c.Methods...)
	if len(methods) == 0 {
		methods = append(methods, DefaultCORSMethods...)
	}
	c.methods = make(map[string]bool, len(methods))
	for i, mt := range methods {
		methods[i] = strings.ToUpper(mt)
		c.methods[methods[i]] = true
	}
	c.allowMethods = []string{strings.Join(methods, ", ")}
	headers := c.Headers
	if len(headers) == 0 {
		headers = DefaultCORSHeaders
	}
	c.headers = make(map[string]bool, len(headers))
	for _, h := range headers {
		if h == "*" {
			c.anyHeader = true
			continue
		}
		c.headers[strings.ToLower(h)] = true
	}
	c.allowHeaders = []string{strings.Join(headers, ", ")}
	expose := append(append([]string(nil), DefaultCORSExpose...), c.Expose...)
	c.expose = []string{strings.Join(expose, ", ")}
	if c.MaxAge == 0 {
		c.MaxAge = caddy.Duration(10 * time.Minute)
	}
	c.maxAge = []string{strconv.FormatInt(int64(time.Duration(c.MaxAge)/time.Second), 10)}
	return nil
}

// Validate rejects unsafe combinations.
func (c *CORS) Validate() error {
	if len(c.Origins) == 0 {
		return fmt.Errorf("apigw_cors: no origins configured: list the allowed origins, e.g. `origins https://app.example.com`")
	}
	if c.Credentials && c.matcher.Any() {
		return fmt.Errorf("apigw_cors: credentials cannot be combined with origin \"*\" (any site could read authenticated responses): list the allowed origins explicitly, e.g. `origins https://app.example.com https://*.example.com`")
	}
	if c.MaxAge < 0 {
		return fmt.Errorf("apigw_cors: max_age must not be negative")
	}
	for _, h := range append(append([]string(nil), c.Headers...), c.Expose...) {
		if h != "*" && !validHeaderName(h) {
			return fmt.Errorf("apigw_cors: %q is not a valid header name", h)
		}
	}
	for _, m := range c.Methods {
		if !validHeaderName(m) {
			return fmt.Errorf("apigw_cors: %q is not a valid method", m)
		}
	}
	return nil
}

// ServeHTTP implements caddyhttp.MiddlewareHandler. The grant is written
// by the chain writer's header pass (see chainWriter), after every
// Access-Control-* header anyone else set was removed: the gateway owns
// CORS (a second Access-Control-Allow-Origin voids a grant, and a grant
// for a disallowed origin must not pass), on every status, scrubbed
// errors included.
func (c *CORS) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	cw, owner := joinChain(w, r)
	origin := r.Header.Get("Origin")
	cw.cors = corsState{c: c, origin: origin, on: true}
	if r.Method == http.MethodOptions && origin != "" && r.Header.Get("Access-Control-Request-Method") != "" {
		cw.cors.preflight = true
		cw.cors.allowed = c.preflightAllowed(r, origin)
		out := w
		if owner {
			out = cw
		}
		out.WriteHeader(http.StatusNoContent)
		return nil
	}
	cw.cors.allowed = origin != "" && c.matcher.Match(origin)
	return serveChain(cw, owner, w, r, next)
}

// apply writes the CORS headers of st into h (the chain writer's header
// pass; every Access-Control-* header is gone by then).
func (c *CORS) apply(h http.Header, st *corsState, cw *chainWriter) {
	if st.preflight {
		addVary(h, varyPreflight, cw)
		delete(h, "Server") // the preflight ends here, before apigw_errors joins
		if !st.allowed {
			return
		}
		c.grant(h, st.origin, cw)
		h["Access-Control-Allow-Methods"] = cw.one(c.allowMethods[0])
		if c.anyHeader {
			if req := cw.r.Header.Get("Access-Control-Request-Headers"); req != "" {
				h["Access-Control-Allow-Headers"] = cw.one(req)
			}
		} else {
			h["Access-Control-Allow-Headers"] = cw.one(c.allowHeaders[0])
		}
		h["Access-Control-Max-Age"] = cw.one(c.maxAge[0])
		return
	}
	addVary(h, varyOrigin, cw)
	if st.allowed {
		c.grant(h, st.origin, cw)
		h["Access-Control-Expose-Headers"] = cw.one(c.expose[0])
	}
}

// addVary adds vary to the Vary header, taking a fresh slice from cw
// when it is not set yet.
func addVary(h http.Header, vary []string, cw *chainWriter) {
	if cur, ok := h["Vary"]; ok {
		h["Vary"] = append(cur[:len(cur):len(cur)], vary...)
		return
	}
	h["Vary"] = cw.many(vary)
}

func (c *CORS) grant(h http.Header, origin string, cw *chainWriter) {
	switch {
	case c.matcher.Any() && !c.Credentials:
		h["Access-Control-Allow-Origin"] = cw.one(valStar[0])
	default:
		h["Access-Control-Allow-Origin"] = cw.one(origin)
	}
	if c.Credentials {
		h["Access-Control-Allow-Credentials"] = cw.one(valTrue[0])
	}
}

func (c *CORS) preflightAllowed(r *http.Request, origin string) bool {
	if !c.matcher.Match(origin) {
		return false
	}
	if m := r.Header.Get("Access-Control-Request-Method"); !c.methods[m] {
		return false
	}
	if c.anyHeader {
		return true
	}
	for _, v := range r.Header.Values("Access-Control-Request-Headers") {
		for len(v) > 0 {
			var name string
			name, v, _ = strings.Cut(v, ",")
			name = strings.TrimSpace(name)
			if name != "" && !c.headers[strings.ToLower(name)] {
				return false
			}
		}
	}
	return true
}

// parseCORS sets up apigw_cors.
//
// Syntax:
//
//	apigw_cors [<origin...>] {
//	    origins <origin|pattern...>
//	    methods <method...>
//	    headers <header...>|*
//	    expose <header...>
//	    credentials
//	    max_age <duration>
//	}
func parseCORS(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	h.Next() // consume directive name
	c := new(CORS)
	c.Origins = append(c.Origins, h.RemainingArgs()...)
	for h.NextBlock(0) {
		switch opt := h.Val(); opt {
		case "origins", "methods", "headers", "expose":
			args := h.RemainingArgs()
			if len(args) == 0 {
				return nil, h.ArgErr()
			}
			switch opt {
			case "origins":
				c.Origins = append(c.Origins, args...)
			case "methods":
				c.Methods = append(c.Methods, args...)
			case "headers":
				c.Headers = append(c.Headers, args...)
			case "expose":
				c.Expose = append(c.Expose, args...)
			}
		case "credentials":
			if h.NextArg() {
				return nil, h.ArgErr()
			}
			c.Credentials = true
		case "max_age":
			if !h.NextArg() {
				return nil, h.ArgErr()
			}
			d, err := caddy.ParseDuration(h.Val())
			if err != nil {
				return nil, h.Errf("apigw_cors max_age: %v", err)
			}
			c.MaxAge = caddy.Duration(d)
		default:
			return nil, h.Errf("apigw_cors: unknown option %q (known: origins, methods, headers, expose, credentials, max_age)", opt)
		}
	}
	if _, err := origin.NewMatcher(c.Origins); err != nil {
		return nil, h.Errf("apigw_cors: %v", err)
	}
	if m, _ := origin.NewMatcher(c.Origins); c.Credentials && m.Any() {
		return nil, h.Err("apigw_cors: credentials cannot be combined with origin \"*\": list the allowed origins explicitly, e.g. `origins https://app.example.com`")
	}
	return c, nil
}

// Interface guards
var (
	_ caddyhttp.MiddlewareHandler = (*CORS)(nil)
	_ caddy.Provisioner           = (*CORS)(nil)
	_ caddy.Validator             = (*CORS)(nil)
)
