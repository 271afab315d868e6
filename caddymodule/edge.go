package caddymodule

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/apigw/caddy-apigw/edge"
	"github.com/apigw/caddy-apigw/problem"
)

func init() {
	caddy.RegisterModule(Edge{})
	httpcaddyfile.RegisterHandlerDirective("apigw_edge", parseEdge)
	// first of all: before tracing, so no matcher of the site runs on a
	// request the edge would refuse
	httpcaddyfile.RegisterDirectiveOrder("apigw_edge", httpcaddyfile.Before, "tracing")
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
	// AllowSemicolon lets `;` path parameters through (raw or %3B).
	AllowSemicolon bool `json:"allow_semicolon,omitempty"`
	// AllowEncodedSlash lets %2F through in the path.
	AllowEncodedSlash bool `json:"allow_encoded_slash,omitempty"`
	// AllowMethodOverride keeps X-HTTP-Method-Override, X-HTTP-Method
	// and X-Method-Override.
	AllowMethodOverride bool `json:"allow_method_override,omitempty"`
	// AllowTrailers forwards the client's request trailers (except
	// gateway-owned names such as X-Auth-*).
	AllowTrailers bool `json:"allow_trailers,omitempty"`
	// AllowTrace lets the TRACE method through.
	AllowTrace bool `json:"allow_trace,omitempty"`
	// AllowConnect lets the CONNECT method through (HTTP/2 extended
	// CONNECT for websockets, RFC 8441, included).
	AllowConnect bool `json:"allow_connect,omitempty"`

	opts  edge.Options
	hopts edge.HeaderOptions
}

// CaddyModule returns the Caddy module information.
func (Edge) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.apigw_edge",
		New: func() caddy.Module { return new(Edge) },
	}
}

// Provision copies the options into their domain form.
func (e *Edge) Provision(ctx caddy.Context) error {
	// every site with a caddy-apigw directive carries the edge, so its
	// access log redacts the credential headers whatever the route
	RedactCredentialHeaders(ctx, "")
	e.opts = edge.Options{
		AllowSemicolon:    e.AllowSemicolon,
		AllowEncodedSlash: e.AllowEncodedSlash,
		AllowTrace:        e.AllowTrace,
		AllowConnect:      e.AllowConnect,
	}
	e.hopts = edge.HeaderOptions{AllowMethodOverride: e.AllowMethodOverride, AllowTrailers: e.AllowTrailers}
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
	if ref := edge.CheckMethod(r.Method, e.opts); ref != nil {
		return refuse(r, ref)
	}
	target := r.RequestURI
	if target == "" {
		target = r.URL.RequestURI()
	}
	if ref := edge.CheckTarget(r.Method, target, e.opts); ref != nil {
		return refuse(r, ref)
	}
	if ref := edge.CheckRepeated(r.Header); ref != nil {
		return refuse(r, ref)
	}
	res := edge.Clean(r.Header, e.hopts)
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
	// one small allocation for requests with a body: the wrapper must
	// outlive this call wherever the body is still read, so no pool
	body := &edgeBody{ReadCloser: r.Body, req: r, dropTrailers: !e.AllowTrailers}
	r.Body = body
	err := next.ServeHTTP(w, r)
	if err != nil && (body.failed || errors.As(err, new(*edge.FramingError))) {
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

// edgeBody marks client body errors (bad chunk framing, a body shorter
// than its Content-Length) as *edge.FramingError, so they are answered
// 400 bad_request, not 502 upstream_error; at EOF it drops the trailers
// net/http has just filled in, before the reverse proxy copies them.
type edgeBody struct {
	io.ReadCloser
	req          *http.Request
	dropTrailers bool
	failed       bool
}

func (b *edgeBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	switch {
	case err == nil:
	case err == io.EOF:
		if b.dropTrailers {
			b.req.Trailer = nil
		} else {
			for k := range b.req.Trailer {
				if edge.IsGatewayOwned(k) {
					delete(b.req.Trailer, k)
				}
			}
		}
	case isClientFramingError(err):
		b.failed = true
		err = &edge.FramingError{Err: err}
	}
	return n, err
}

// isClientFramingError: any body read error that is not the connection
// failing or timing out (net.Error), nor a body size limit (Caddy
// answers 413 for those), is the client's framing: net/http's chunked
// reader reports malformed chunks with plain errors.New values.
func isClientFramingError(err error) bool {
	var ne net.Error
	var mb *http.MaxBytesError
	return !errors.As(err, &ne) && !errors.As(err, &mb) && !errors.Is(err, http.ErrBodyReadAfterClose)
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
		switch h.Val() {
		case "allow_semicolon":
			e.AllowSemicolon = true
		case "allow_encoded_slash":
			e.AllowEncodedSlash = true
		case "allow_method_override":
			e.AllowMethodOverride = true
		case "allow_trailers":
			e.AllowTrailers = true
		case "allow_trace":
			e.AllowTrace = true
		case "allow_connect":
			e.AllowConnect = true
		default:
			return nil, h.Errf("apigw_edge: unknown option %q (known: allow_semicolon, allow_encoded_slash, allow_method_override, allow_trailers, allow_trace, allow_connect)", h.Val())
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
	if len(u.Protocols) == 0 {
		return errors.New("apigw_upgrade: name at least one protocol, e.g. `apigw_upgrade websocket`")
	}
	for _, p := range u.Protocols {
		if strings.EqualFold(p, "h2c") {
			return errors.New("apigw_upgrade: h2c cannot be allowed: its streams would bypass every check; enable HTTP/2 (TLS) or the server's h2c protocol option instead")
		}
		if p == "" || strings.ContainsAny(p, " ,") {
			return errors.New("apigw_upgrade: a protocol is one token such as websocket")
		}
	}
	return nil
}

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (u *Upgrade) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if v, ok := caddyhttp.GetVar(r.Context(), upgradeVar).(string); ok && v != "" {
		first, _, _ := strings.Cut(v, ",")
		first, _, _ = strings.Cut(strings.TrimSpace(first), "/")
		for _, p := range u.Protocols {
			if strings.EqualFold(first, p) {
				r.Header["Upgrade"] = []string{v}
				r.Header["Connection"] = []string{"Upgrade"}
				break
			}
		}
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

func init() {
	caddy.RegisterModule(Upgrade{})
	// ordered in order.go, after the auth directives
	registerGatewayHandlerDirective("apigw_upgrade", parseUpgrade)
}

// Interface guards
var (
	_ caddyhttp.MiddlewareHandler = (*Edge)(nil)
	_ caddy.Provisioner           = (*Edge)(nil)
	_ caddyhttp.MiddlewareHandler = (*Upgrade)(nil)
	_ caddy.Validator             = (*Upgrade)(nil)
)
