package caddymodule

import (
	"crypto/rand"
	"errors"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/apigw/caddy-apigw/edge"
	"github.com/apigw/caddy-apigw/problem"
)

func init() {
	caddy.RegisterModule(ProblemRenderer{})
}

// RequestIDVar is the replacer key holding the request id
// ({apigw.request_id} in placeholders).
const RequestIDVar = "apigw.request_id"

// RequestIDHeader is the header carrying the request id in responses and
// to the upstream.
const RequestIDHeader = "X-Request-ID"

// requestIDKey is RequestIDHeader as net/http stores it (canonical form):
// the header maps are indexed with it directly, because Header.Get/Set
// would canonicalize, and allocate, "X-Request-ID" on every call.
const requestIDKey = "X-Request-Id"

// NewRequestID returns a fresh request id: a random (version 4) UUID in
// its usual 36-character form. It costs one allocation (the string): the
// 16 random bytes stay on the stack, which uuid.NewString cannot do (it
// reads them through an io.Reader), and no process-wide state such as
// uuid.EnableRandPool is touched.
func NewRequestID() string {
	var u uuid.UUID
	// crypto/rand.Read never returns an error (since Go 1.24 it crashes
	// the program instead)
	_, _ = rand.Read(u[:])
	u[6] = (u[6] & 0x0f) | 0x40 // version 4
	u[8] = (u[8] & 0x3f) | 0x80 // variant RFC 4122
	return u.String()
}

// RequestID returns the request's id, creating one (a random UUID) and
// recording it in the replacer, the response header, the upstream request
// header and the access log's extra fields if no handler did yet.
func RequestID(w http.ResponseWriter, r *http.Request) string {
	repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if repl != nil {
		if v, ok := repl.Get(RequestIDVar); ok {
			if s, ok := v.(string); ok && s != "" {
				// an id made before the response writer was at hand
				// (e.g. by Audit) still belongs in the response
				if w != nil {
					if h := w.Header(); len(h[requestIDKey]) == 0 || h[requestIDKey][0] == "" {
						h[requestIDKey] = []string{s}
					}
				}
				return s
			}
		}
	}
	id := NewRequestID()
	SetRequestID(w, r, id)
	return id
}

// SetRequestID records id as the request's id everywhere it belongs: the
// replacer, the X-Request-ID response and upstream request headers, and
// the access log.
func SetRequestID(w http.ResponseWriter, r *http.Request, id string) {
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		repl.Set(RequestIDVar, id)
	}
	// one backing array, one element per header map: never the same
	// element in both, as a handler editing one value in place (e.g. a
	// header replace) must not change the other
	vals := make([]string, 2)
	vals[0], vals[1] = id, id
	r.Header[requestIDKey] = vals[0:1:1]
	if w != nil {
		w.Header()[requestIDKey] = vals[1:2:2]
	}
	if extra, ok := r.Context().Value(caddyhttp.ExtraLogFieldsCtxKey).(*caddyhttp.ExtraLogFields); ok && accessLogged(r) {
		extra.Set(zap.String("request_id", id))
	}
}

// Fail returns the error a handler returns to reject a request with p: a
// caddyhttp.HandlerError (so Caddy logs it and exposes {http.error.*})
// carrying the problem for the renderer.
func Fail(p *problem.Problem) error {
	return caddyhttp.Error(p.Status, p)
}

// ProblemFor returns the problem to render for a handler error: the
// problem a caddy-apigw handler raised; for a 401 from Caddy's
// authentication handler, the reason our provider recorded; otherwise a
// generic, safe problem for the status (Caddy's own error text is never
// shown to the client).
func ProblemFor(r *http.Request, err error) *problem.Problem {
	var p *problem.Problem
	if errors.As(err, &p) {
		return p
	}
	if errors.As(err, new(*edge.FramingError)) {
		return edgeProblem(edge.RefuseBodyFraming)
	}
	status := http.StatusInternalServerError
	var he caddyhttp.HandlerError
	if errors.As(err, &he) && he.StatusCode != 0 {
		status = he.StatusCode
	}
	if status == http.StatusUnauthorized {
		if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
			if v, ok := repl.Get(AuthProblemVar); ok {
				if ap, ok := v.(*problem.Problem); ok {
					return ap
				}
			}
		}
	}
	return problem.ForStatus(status)
}

// ProblemRenderer writes the error being handled as RFC 9457 problem
// JSON. It belongs in a server's error routes; the apigw_errors directive
// installs it there, so users need no handle_errors block. Inside a
// handle_errors block of their own, users can write `apigw_problem`.
type ProblemRenderer struct {
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (ProblemRenderer) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.apigw_problem",
		New: func() caddy.Module { return new(ProblemRenderer) },
	}
}

// Provision sets up the renderer.
func (pr *ProblemRenderer) Provision(ctx caddy.Context) error {
	pr.logger = ctx.Logger()
	return nil
}

// ServeHTTP renders {http.error} as problem JSON. It is terminal.
func (pr *ProblemRenderer) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	var err error
	if v, ok := repl.Get("http.error"); ok {
		err, _ = v.(error)
	}
	if err == nil {
		err = caddyhttp.Error(http.StatusInternalServerError, errors.New("error route without an error"))
	}
	p := ProblemFor(r, err)
	p.Write(w, RequestID(w, r))
	return nil
}

// Interface guards
var (
	_ caddyhttp.MiddlewareHandler = (*ProblemRenderer)(nil)
	_ caddy.Provisioner           = (*ProblemRenderer)(nil)
)
