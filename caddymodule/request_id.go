package caddymodule

import (
	"crypto/rand"
	"fmt"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/google/uuid"
	"go.uber.org/zap"
)

func init() {
	caddy.RegisterModule(RequestIDHandler{})
	registerGatewayHandlerDirective("apigw_request_id", parseRequestID)
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
	// one backing array, one element per header map: never the same
	// element in both, as a handler editing one value in place (e.g. a
	// header replace) must not change the other
	vals := make([]string, 2)
	vals[0], vals[1] = id, id
	setRequestID(w, r, id, vals[0:1:1], vals[1:2:2])
}

// setRequestID is SetRequestID with the header values given: reqVal for
// the upstream request, respVal for the response, each holding id, each
// a slice of its own.
func setRequestID(w http.ResponseWriter, r *http.Request, id string, reqVal, respVal []string) {
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		repl.Set(RequestIDVar, id)
	}
	r.Header[requestIDKey] = reqVal
	if w != nil {
		w.Header()[requestIDKey] = respVal
	}
	if extra, ok := r.Context().Value(caddyhttp.ExtraLogFieldsCtxKey).(*caddyhttp.ExtraLogFields); ok && accessLogged(r) {
		extra.Set(zap.String("request_id", id))
	}
}

// RequestIDHandler gives every request an id: a random UUID, or a
// well-formed id the client sent if TrustIncoming is set. The id is in
// the X-Request-ID response header, the header sent upstream, the
// problem JSON of errors, every log line of the request (access and
// error logs, as request_id) and the {apigw.request_id} placeholder.
// It joins the site-wide chain writer (see chainWriter), so a site with
// only this directive gets the chain's response rules too. (Request
// trailers are dropped by apigw_edge, which every such site carries.)
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
	// the two header values live in the chain writer's array (see
	// chainWriter.one): no allocation of their own
	cw, owner := joinChain(w, r)
	setRequestID(w, r, id, cw.one(id), cw.one(id))
	// h.Header is canonical (Provision): compare with the canonical form,
	// or the default header would be set a second time on every request
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
