package caddymodule

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/apigw/caddy-apigw/edge"
	"github.com/apigw/caddy-apigw/problem"
)

func init() {
	caddy.RegisterModule(Edge{})
	caddy.RegisterModule(Upgrade{})
	// both ordered in order.go; apigw_edge is not a carrier of itself
	httpcaddyfile.RegisterHandlerDirective("apigw_edge", parseEdge)
	registerGatewayHandlerDirective("apigw_upgrade", parseUpgrade)
}

// upgradeVar is the request variable holding the Upgrade header value
// the edge set aside, for apigw_upgrade.
const upgradeVar = "apigw.upgrade"

// Edge is the gateway's request hardening: it refuses, before any route
// of the site runs, requests that the gateway and an upstream could read
// differently (methods that are not upper-case tokens, TRACE, CONNECT,
// non-origin-form targets, path forms such as `;` parameters, encoded
// control characters, backslashes, encoded slashes and dot segments
// after any decoding), answering 400 bad_request (405 for TRACE and
// CONNECT) with a detail naming what was refused. It then cleans the
// headers (see edge.Clean): client X-Auth-* and routing headers
// removed, client-address headers removed unless the peer is a trusted
// proxy, Connection tokens and the headers they name removed, Upgrade
// set aside for a route that opts in with apigw_upgrade, client trailers
// dropped; and it turns a malformed request body (chunk framing,
// truncation) into 400 bad_request instead of a 502.
//
// Every Caddyfile site that uses a caddy-apigw directive gets it at its
// top (see edge_caddyfile.go). In JSON configs, put it first in the
// site's route list.
type Edge struct {
	// Options relax individual checks (allow_semicolon,
	// allow_encoded_slash, allow_method_override, allow_trailers,
	// allow_trace, allow_connect; see edge.Options). The zero value is
	// the secure default.
	edge.Options
}

// CaddyModule returns the Caddy module information.
func (Edge) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.apigw_edge",
		New: func() caddy.Module { return new(Edge) },
	}
}

// Provision redacts the credential headers in the site's access log.
func (e *Edge) Provision(ctx caddy.Context) error {
	// every site with a caddy-apigw directive carries the edge, so its
	// access log redacts the credential headers whatever the route
	RedactCredentialHeaders(ctx, "")
	return nil
}

// edgeProblems are the problems of the edge's refusals, mapped through
// the one error table (errtable.go) once, so a refusal costs no
// allocation; 405 answers say which methods a gateway route may take.
var edgeProblems = func() map[*edge.Refusal]*problem.Problem {
	m := make(map[*edge.Refusal]*problem.Problem, len(edge.Refusals))
	for _, ref := range edge.Refusals {
		p := problemFromError(ref)
		if p.Status == http.StatusMethodNotAllowed {
			p.WithHeader("Allow", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS")
		}
		m[ref] = p
	}
	return m
}()

// edgeProblem returns the problem of an edge refusal.
func edgeProblem(ref *edge.Refusal) *problem.Problem {
	if p, ok := edgeProblems[ref]; ok {
		return p
	}
	return problemFromError(ref)
}

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (e *Edge) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if ref := edge.CheckMethod(r.Method, e.Options); ref != nil {
		return refuse(r, ref)
	}
	target := r.RequestURI
	if target == "" {
		target = r.URL.RequestURI()
	}
	if ref := edge.CheckTarget(r.Method, target, e.Options); ref != nil {
		return refuse(r, ref)
	}
	if ref := edge.CheckRepeated(r.Header); ref != nil {
		return refuse(r, ref)
	}
	res := edge.Clean(r.Header, e.Options)
	if res.ClientAddr {
		// kept only from a peer in the server's trusted_proxies, as
		// Caddy's reverse_proxy does for X-Forwarded-For
		if trusted, _ := caddyhttp.GetVar(r.Context(), caddyhttp.TrustedProxyVarKey).(bool); !trusted {
			edge.DropClientAddr(r.Header)
		}
	}
	if res.Upgrade != "" {
		caddyhttp.SetVar(r.Context(), upgradeVar, res.Upgrade)
	}
	if !e.AllowTrailers {
		// Caddy's reverse_proxy forwards request trailers past every
		// header_up/request_header removal and the auth directives' own,
		// so a client could send Authorization, DPoP or X-Auth-User
		// there; the server still reads them, they go no further
		r.Trailer = nil
	}
	if r.Body == nil || r.Body == http.NoBody {
		return next.ServeHTTP(w, r)
	}
	body := edge.WrapBody(r, e.Options)
	err := next.ServeHTTP(w, r)
	if err != nil && (body.Failed() || errors.As(err, new(*edge.FramingError))) {
		return refuse(r, edge.RefuseBodyFraming)
	}
	return err
}

// refuse records the refusal in the audit log (and apigw_rejects_total)
// and returns its problem.
func refuse(r *http.Request, ref *edge.Refusal) error {
	p := edgeProblem(ref)
	Audit(r, "request_refused", p.Code, zap.String("reason", ref.Detail))
	return Fail(p)
}

// parseEdge sets up apigw_edge.
//
// Syntax:
//
//	apigw_edge {
//	    allow_semicolon
//	    allow_encoded_slash
//	    allow_method_override
//	    allow_trailers
//	    allow_trace
//	    allow_connect
//	}
func parseEdge(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	h.Next() // consume directive name
	e := new(Edge)
	if h.NextArg() {
		return nil, h.ArgErr()
	}
	for h.NextBlock(0) {
		if h.NextArg() {
			return nil, h.ArgErr()
		}
		if err := e.Set(h.Val()); err != nil {
			return nil, h.Errf("apigw_edge: %v", err)
		}
	}
	return e, nil
}

// Upgrade restores, on its route, the protocol upgrade the edge set
// aside: a client's `Upgrade` (with `Connection: upgrade`) reaches the
// upstream only on a route that has apigw_upgrade, and only after the
// route's auth directives (apigw_upgrade is ordered after them).
type Upgrade struct {
	// Protocols are the upgrade protocols allowed on this route
	// (e.g. websocket), matched case-insensitively on the first
	// protocol of the client's Upgrade header. h2c is refused: it
	// would turn the connection into HTTP/2 streams the gateway never
	// checks.
	Protocols []string `json:"protocols,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (Upgrade) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.apigw_upgrade",
		New: func() caddy.Module { return new(Upgrade) },
	}
}

// Validate checks the protocol list.
func (u *Upgrade) Validate() error {
	if err := edge.CheckUpgradeProtocols(u.Protocols); err != nil {
		return fmt.Errorf("apigw_upgrade: %w", err)
	}
	return nil
}

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (u *Upgrade) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if v, _ := caddyhttp.GetVar(r.Context(), upgradeVar).(string); edge.UpgradeAllowed(v, u.Protocols) {
		r.Header["Upgrade"] = []string{v}
		r.Header["Connection"] = []string{"Upgrade"}
	}
	return next.ServeHTTP(w, r)
}

// parseUpgrade sets up apigw_upgrade.
//
// Syntax:
//
//	apigw_upgrade <protocol...>
func parseUpgrade(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	h.Next() // consume directive name
	u := &Upgrade{Protocols: h.RemainingArgs()}
	if len(u.Protocols) == 0 || h.NextBlock(0) {
		return nil, h.ArgErr()
	}
	return u, u.Validate()
}

// Interface guards
var (
	_ caddyhttp.MiddlewareHandler = (*Edge)(nil)
	_ caddy.Provisioner           = (*Edge)(nil)
	_ caddyhttp.MiddlewareHandler = (*Upgrade)(nil)
	_ caddy.Validator             = (*Upgrade)(nil)
)
