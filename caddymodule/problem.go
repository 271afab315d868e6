package caddymodule

import (
	"errors"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/apigw/caddy-apigw/edge"
	"github.com/apigw/caddy-apigw/problem"
)

func init() {
	caddy.RegisterModule(ProblemRenderer{})
}

// Fail returns the error a handler returns to reject a request with p: a
// caddyhttp.HandlerError (so Caddy logs it and exposes {http.error.*})
// carrying the problem for the renderer.
func Fail(p *problem.Problem) error {
	return caddyhttp.Error(p.Status, p)
}

// ProblemFor returns the problem to render for a handler error: the
// problem a caddy-apigw handler raised; for a domain failure (an error
// carrying a kind of package failure, the edge's refusals included), the
// problem of the one error table (errtable.go); for a 401 from Caddy's
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
	if hasFailureKind(err) {
		if ref := (*edge.Refusal)(nil); errors.As(err, &ref) {
			return edgeProblem(ref) // the table's problem, prepared once
		}
		return problemFromError(err)
	}
	status := responseStatus(err)
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

// responseStatus is the status Caddy answers a handler error with: its
// caddyhttp.HandlerError's, else 500.
func responseStatus(err error) int {
	var he caddyhttp.HandlerError
	if errors.As(err, &he) && he.StatusCode != 0 {
		return he.StatusCode
	}
	return http.StatusInternalServerError
}

// hasFailureKind reports whether err is (or wraps) one of the kinds of
// the error table, with no *failure.Error around it.
func hasFailureKind(err error) bool {
	for _, row := range errorTable {
		if errors.Is(err, row.kind) {
			return true
		}
	}
	return false
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
