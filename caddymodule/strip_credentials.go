package caddymodule

import (
	"fmt"
	"net/http"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/apigw/caddy-apigw/redact"
	"github.com/apigw/caddy-apigw/sessions"
)

func init() {
	caddy.RegisterModule(StripCredentials{})
	registerGatewayHandlerDirective("apigw_strip_credentials", parseStripCredentials)
}

// StripCredentials removes the gateway's credentials from the request
// right before it goes upstream, on every route it is on, whether or not
// the route checks them: a browser sends the session cookie to every
// path of the site, and a client may send a key or a token where none is
// checked. It removes, in one pass and without allocating when there is
// no cookie to cut:
//
//   - every credential header of the server: Authorization,
//     Proxy-Authorization, X-API-Key, X-Signature, Signature,
//     Signature-Input, DPoP, and each header another caddy-apigw
//     directive of the server reads a credential from (a custom API-key
//     or token header);
//   - every credential cookie of the server (the session cookie, the
//     OIDC login-state cookie) from the Cookie header, keeping the
//     others;
//   - the Headers and Cookies given here, which join the server's list:
//     every apigw_strip_credentials of the server removes them, and the
//     access log redacts them.
//
// These are the very names the access log redacts (one list per server,
// built at provision by the directives that read credentials). The auth
// directives remove their own credential after checking it as well;
// this handler is for the routes the upstream must never see any of
// them on (Caddyfile.example imports it before every reverse_proxy).
// It replaces a list of `header_up` removals and cookie regexps, which
// Caddy applies per request with about 16 allocations (26 with a
// cookie): see BenchmarkStripCredentials, which runs both.
type StripCredentials struct {
	// Headers are more request headers to remove.
	Headers []string `json:"headers,omitempty"`
	// Cookies are more cookies to remove from the Cookie header.
	Cookies []string `json:"cookies,omitempty"`

	names *stripNames
}

// stripNames are the names a StripCredentials removes, fixed at its
// first request: every handler of the server registers its names at
// provision, before the server serves.
type stripNames struct {
	policy  *redact.Policy
	once    sync.Once
	headers []string
	cookies []string
}

// CaddyModule returns the Caddy module information.
func (StripCredentials) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.apigw_strip_credentials",
		New: func() caddy.Module { return new(StripCredentials) },
	}
}

// Provision finds the server's list of credential names and adds this
// handler's own to it (so the access log redacts them too).
func (s *StripCredentials) Provision(ctx caddy.Context) error {
	p := credentialPolicy(ctx)
	for _, c := range s.Cookies {
		p.Add(c, nil)
	}
	p.Add("", s.Headers)
	s.names = &stripNames{policy: p}
	return nil
}

// Validate checks the names.
func (s *StripCredentials) Validate() error {
	for _, h := range s.Headers {
		if !validHeaderName(h) {
			return fmt.Errorf("apigw_strip_credentials: header %q is not a valid header name", h)
		}
	}
	for _, c := range s.Cookies {
		if (&http.Cookie{Name: c, Value: "x"}).Valid() != nil {
			return fmt.Errorf("apigw_strip_credentials: cookie %q is not a valid cookie name", c)
		}
	}
	return nil
}

// fix reads the lists from the server's policy.
func (n *stripNames) fix() {
	n.headers, n.cookies = n.policy.Names()
}

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (s *StripCredentials) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	n := s.names
	n.once.Do(n.fix)
	// canonical names: apigw_edge canonicalises every header name first
	for _, h := range n.headers {
		delete(r.Header, h)
	}
	if len(r.Header["Cookie"]) > 0 {
		for _, c := range n.cookies {
			sessions.StripRequestCookie(r, c)
		}
	}
	return next.ServeHTTP(w, r)
}

// credentialPolicy returns the list of credential names of the server
// being provisioned: the one its access log redacts (kept per server
// whether or not the log hook could be installed). Outside a server
// (unit tests) it is a list of its own with the defaults: the default
// credential headers, the default session cookie (with and without the
// __Host- prefix) and the OIDC login-state cookie.
func credentialPolicy(ctx caddy.Context) *redact.Policy {
	if ctx.Context != nil {
		if srv, ok := ctx.Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server); ok && srv != nil {
			return serverCredentials(srv, ctx.Logger())
		}
	}
	p := redact.NewPolicy()
	for _, c := range []string{sessions.DefaultCookieName, sessions.HostPrefix + sessions.DefaultCookieName, OIDCStateCookie} {
		p.Add(c, nil)
	}
	return p
}

// parseStripCredentials sets up apigw_strip_credentials.
//
// Syntax:
//
//	apigw_strip_credentials [<matcher>] {
//	    header <name...>
//	    cookie <name...>
//	}
func parseStripCredentials(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	h.Next() // consume directive name
	s := new(StripCredentials)
	if h.NextArg() {
		return nil, h.ArgErr()
	}
	for h.NextBlock(0) {
		opt := h.Val()
		args := h.RemainingArgs()
		if len(args) == 0 {
			return nil, h.Errf("apigw_strip_credentials %s: give at least one name", opt)
		}
		switch opt {
		case "header":
			s.Headers = append(s.Headers, args...)
		case "cookie":
			s.Cookies = append(s.Cookies, args...)
		default:
			return nil, h.Errf("apigw_strip_credentials: unknown option %q (known: header, cookie)", opt)
		}
	}
	if err := s.Validate(); err != nil {
		return nil, h.Errf("%v", err)
	}
	return s, nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*StripCredentials)(nil)
	_ caddy.Validator             = (*StripCredentials)(nil)
	_ caddyhttp.MiddlewareHandler = (*StripCredentials)(nil)
)
