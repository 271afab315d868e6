package caddymodule

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/apigw/caddy-apigw/edge"
	"github.com/apigw/caddy-apigw/problem"
	"github.com/apigw/caddy-apigw/redact"
)

func init() {
	caddy.RegisterModule(Errors{})
	registerGatewayDirective("apigw_errors", parseErrorsDirective)
	httpcaddyfile.RegisterHandlerDirective("apigw_problem", func(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
		h.Next()
		if h.NextArg() || h.NextBlock(0) {
			return nil, h.Err("apigw_problem takes no arguments")
		}
		return new(ProblemRenderer), nil
	})
	httpcaddyfile.RegisterDirectiveOrder("apigw_problem", httpcaddyfile.Before, "respond")
}

// Errors scrubs failures on their way to the client: an upstream (or any
// later handler) answering 5xx has its body and headers replaced by the
// problem JSON of DESIGN.md (see problem.ForUpstream), with the original only
// in the log (once, at ERROR, with the request id, secrets redacted and
// truncated) and one audit entry (upstream_scrubbed); Server,
// X-Powered-By, Via, X-AspNet-Version and X-AspNetMvc-Version headers are
// removed from every response. The CORS and security headers of the
// other site-wide directives are written on the problem too; the
// upstream's own Access-Control-* headers never are. Errors
// raised by handlers and by Caddy itself (no upstream reachable, body too
// large, 404) reach the problem renderer through the error route that
// the apigw_errors directive installs.
type Errors struct {
	// Scrub4xx also replaces upstream 4xx bodies (default: they pass).
	Scrub4xx bool `json:"scrub_4xx,omitempty"`
	// MaxLoggedBody is how many bytes of a scrubbed upstream body are
	// logged (default 2048; -1 logs none).
	MaxLoggedBody int `json:"max_logged_body,omitempty"`

	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Errors) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.apigw_errors",
		New: func() caddy.Module { return new(Errors) },
	}
}

// Provision sets defaults.
func (e *Errors) Provision(ctx caddy.Context) error {
	e.logger = ctx.Logger()
	if e.MaxLoggedBody == 0 {
		e.MaxLoggedBody = 2048
	}
	return nil
}

// scrubs reports whether a response with status is replaced by problem
// JSON.
func (e *Errors) scrubs(status int) bool {
	return status >= 500 || (e.Scrub4xx && status >= 400)
}

// loggedBody is how many bytes of a scrubbed body are kept for the log.
func (e *Errors) loggedBody() int {
	return max(e.MaxLoggedBody, 0)
}

// ServeHTTP implements caddyhttp.MiddlewareHandler. The scrubbing itself
// happens in the chain writer's header pass (see chainWriter): a 5xx is
// never written and its body is dropped, after the first max_logged_body
// bytes, which are kept for the log line. Nothing is buffered otherwise.
func (e *Errors) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	cw, owner := joinChain(w, r)
	cw.errs = e
	err := serveChain(cw, owner, w, r, next)
	if err != nil {
		e.logHandlerError(w, r, err)
		return err
	}
	if !cw.scrubbed || cw.errs != e {
		return nil
	}
	status := cw.status
	p := problem.ForUpstream(status)
	if c := e.logger.Check(zap.ErrorLevel, "upstream error scrubbed"); c != nil {
		c.Write(zap.String("request_id", RequestID(w, r)), zap.Int("upstream_status", status),
			zap.Int("status", p.Status), zap.String("method", r.Method), zap.String("path", r.URL.Path),
			zap.String("upstream_content_type", cw.upstreamCT),
			zap.ByteString("upstream_body", redact.Secrets(cw.body)))
	}
	Audit(r, "upstream_scrubbed", p.Code, zap.Int("upstream_status", status), zap.Int("status", p.Status))
	if p.Status == http.StatusServiceUnavailable && cw.retryAfter != "" {
		p.WithHeader("Retry-After", cw.retryAfter)
	}
	return Fail(p)
}

// logHandlerError records a 5xx error that Caddy or another module
// raised without a problem of ours (reverse_proxy finding no upstream,
// a timeout, an `error` directive): Caddy logs errors its error routes
// handled only at DEBUG, so the operator would never see why. It logs
// once at ERROR with the request id (error text redacted) and audits it
// as error_scrubbed. The error itself is returned unchanged, for the
// renderer.
func (e *Errors) logHandlerError(w http.ResponseWriter, r *http.Request, err error) {
	var p *problem.Problem
	if errors.As(err, &p) {
		return
	}
	status := responseStatus(err)
	if status < 500 || errors.As(err, new(*edge.FramingError)) {
		// a malformed client body is answered 400 by apigw_edge
		return
	}
	shown := problem.ForStatus(status)
	if c := e.logger.Check(zap.ErrorLevel, "handler error scrubbed"); c != nil {
		msg := err.Error()
		if len(msg) > 1024 {
			msg = msg[:1024]
		}
		c.Write(zap.String("request_id", RequestID(w, r)), zap.Int("status", status),
			zap.String("method", r.Method), zap.String("path", r.URL.Path),
			zap.ByteString("error", redact.Secrets([]byte(msg))))
	}
	Audit(r, "error_scrubbed", shown.Code, zap.Int("status", status))
}

// parseErrorsDirective sets up apigw_errors:
//
//	apigw_errors {
//	    scrub_4xx
//	    max_logged_body <bytes>
//	}
//
// Besides its handler it installs the problem renderer as an error route
// of the site, so every error, including Caddy's own, leaves as problem
// JSON. It must be used at the top level of a site block.
func parseErrorsDirective(h httpcaddyfile.Helper) ([]httpcaddyfile.ConfigValue, error) {
	h.Next()
	e := new(Errors)
	if h.NextArg() {
		return nil, h.ArgErr()
	}
	for h.NextBlock(0) {
		switch h.Val() {
		case "scrub_4xx":
			e.Scrub4xx = true
		case "max_logged_body":
			if !h.NextArg() {
				return nil, h.ArgErr()
			}
			n, err := strconv.Atoi(h.Val())
			if err != nil {
				return nil, h.Errf("apigw_errors max_logged_body: %q is not a number of bytes", h.Val())
			}
			e.MaxLoggedBody = n
		default:
			return nil, h.Errf("apigw_errors: unknown option %q (known: scrub_4xx, max_logged_body)", h.Val())
		}
	}
	vals := h.NewRoute(nil, e)
	errRoute := &caddyhttp.Subroute{Routes: caddyhttp.RouteList{{
		HandlersRaw: []json.RawMessage{caddyconfig.JSONModuleObject(new(ProblemRenderer), "handler", "apigw_problem", nil)},
	}}}
	vals = append(vals, httpcaddyfile.ConfigValue{Class: "error_route", Value: errRoute})
	return vals, nil
}

// Interface guards
var (
	_ caddyhttp.MiddlewareHandler = (*Errors)(nil)
	_ caddy.Provisioner           = (*Errors)(nil)
)
