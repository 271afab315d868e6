package caddymodule

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/apigw/caddy-apigw/problem"
)

func init() {
	caddy.RegisterModule(Errors{})
	httpcaddyfile.RegisterDirective("apigw_errors", parseErrorsDirective)
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
// problem JSON of DESIGN.md, with the original only in the log; upstream
// Server and X-Powered-By headers are removed from every response.
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

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (e *Errors) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer bufPool.Put(buf)
	rec := caddyhttp.NewResponseRecorder(w, buf, func(status int, header http.Header) bool {
		header.Del("Server")
		header.Del("X-Powered-By")
		return status >= 500 || (e.Scrub4xx && status >= 400)
	})
	if err := next.ServeHTTP(rec, r); err != nil {
		return err
	}
	if !rec.Buffered() {
		return nil
	}
	status := rec.Status()
	p := problem.ForStatus(status)
	if status >= 500 && status != http.StatusServiceUnavailable && status != http.StatusGatewayTimeout {
		p = problem.New(http.StatusBadGateway, problem.CodeUpstreamError, "the upstream service failed")
	}
	if c := e.logger.Check(zap.ErrorLevel, "upstream error scrubbed"); c != nil {
		body := buf.Bytes()
		if e.MaxLoggedBody < 0 {
			body = nil
		} else if len(body) > e.MaxLoggedBody {
			body = body[:e.MaxLoggedBody]
		}
		c.Write(zap.String("request_id", RequestID(w, r)), zap.Int("upstream_status", status),
			zap.Int("status", p.Status), zap.ByteString("upstream_body", body))
	}
	// The recorder kept the upstream's headers; drop the ones that would
	// describe its body.
	h := w.Header()
	h.Del("Content-Length")
	h.Del("Content-Type")
	h.Del("Content-Encoding")
	h.Del("Etag")
	h.Del("Last-Modified")
	return Fail(p)
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
