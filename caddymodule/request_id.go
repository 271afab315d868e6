package caddymodule

import (
	"fmt"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	caddy.RegisterModule(RequestIDHandler{})
	registerGatewayHandlerDirective("apigw_request_id", parseRequestID)
}

// RequestIDHandler gives every request an id: a random UUID, or a
// well-formed id the client sent if TrustIncoming is set. The id is in
// the X-Request-ID response header, the header sent upstream, the
// problem JSON of errors, every log line of the request (access and
// error logs, as request_id) and the {apigw.request_id} placeholder.
// It joins the site-wide chain writer (see chainWriter), so a site with
// only this directive gets the chain's response rules too.
// As the first handler of every route it also drops request trailers, so
// that no credential or identity header reaches the upstream as one.
type RequestIDHandler struct {
	// TrustIncoming keeps a client's id when it is well-formed (1 to 128
	// characters of A-Z a-z 0-9 and - _ . : + = /). Only enable it behind
	// a proxy that sets the header itself. Default: off, every request
	// gets a fresh UUID and a client-sent X-Request-ID is replaced.
	TrustIncoming bool `json:"trust_incoming,omitempty"`
	// Header is the incoming header read when TrustIncoming is set, and an
	// extra response/upstream header carrying the id (default
	// X-Request-ID, which is always set).
	Header string `json:"header,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (RequestIDHandler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.apigw_request_id",
		New: func() caddy.Module { return new(RequestIDHandler) },
	}
}

// Provision sets defaults.
func (h *RequestIDHandler) Provision(caddy.Context) error {
	if h.Header == "" {
		h.Header = RequestIDHeader
	}
	h.Header = http.CanonicalHeaderKey(h.Header)
	return nil
}

// Validate checks the header name.
func (h *RequestIDHandler) Validate() error {
	if !validHeaderName(h.Header) {
		return fmt.Errorf("apigw_request_id: header %q is not a valid header name", h.Header)
	}
	return nil
}

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (h *RequestIDHandler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	var id string
	if h.TrustIncoming {
		if in := r.Header.Get(h.Header); WellFormedRequestID(in) {
			id = in
		}
	}
	if id == "" {
		id = NewRequestID()
	}
	SetRequestID(w, r, id)
	// Request trailers are dropped: Caddy's reverse_proxy forwards them
	// to the upstream, past every header_up/request_header removal and
	// the auth directives' own, so a client could send Authorization,
	// DPoP, Signature or X-Auth-User there. The server still reads them
	// (into its own copy of the request); they just go no further.
	r.Trailer = nil
	// h.Header is canonical (Provision): compare with the canonical form,
	// or the default header would be set a second time on every request
	cw, owner := joinChain(w, r)
	if h.Header != requestIDKey {
		r.Header.Set(h.Header, id)
		w.Header().Set(h.Header, id)
		cw.idHeader = h.Header // kept when apigw_errors scrubs a response
	}
	return serveChain(cw, owner, w, r, next)
}

// WellFormedRequestID reports whether id may be trusted as a request id:
// 1 to 128 characters of A-Z a-z 0-9 - _ . : + = / (a UUID, a trace id,
// a base64 token), so it is safe in headers, logs and JSON.
func WellFormedRequestID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-', c == '_', c == '.', c == ':', c == '+', c == '=', c == '/':
		default:
			return false
		}
	}
	return true
}

// parseRequestID sets up apigw_request_id.
//
// Syntax:
//
//	apigw_request_id {
//	    trust_incoming
//	    header <name>
//	}
func parseRequestID(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	h.Next() // consume directive name
	rid := new(RequestIDHandler)
	if h.NextArg() {
		return nil, h.ArgErr()
	}
	for h.NextBlock(0) {
		switch h.Val() {
		case "trust_incoming":
			if h.NextArg() {
				return nil, h.ArgErr()
			}
			rid.TrustIncoming = true
		case "header":
			if !h.NextArg() {
				return nil, h.ArgErr()
			}
			rid.Header = h.Val()
			if !validHeaderName(rid.Header) {
				return nil, h.Errf("apigw_request_id header: %q is not a valid header name", rid.Header)
			}
			if h.NextArg() {
				return nil, h.ArgErr()
			}
		default:
			return nil, h.Errf("apigw_request_id: unknown option %q (known: trust_incoming, header)", h.Val())
		}
	}
	return rid, nil
}

// Interface guards
var (
	_ caddyhttp.MiddlewareHandler = (*RequestIDHandler)(nil)
	_ caddy.Provisioner           = (*RequestIDHandler)(nil)
	_ caddy.Validator             = (*RequestIDHandler)(nil)
)
