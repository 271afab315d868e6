package caddymodule

import (
	"io"
	"net/http"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/apigw/caddy-apigw/secheaders"
)

// chainWriter is the one response writer of the site-wide chain
// (apigw_request_id, apigw_security_headers, apigw_cors, apigw_errors).
// The first of these handlers to see a request installs it (joinChain);
// the others find it by unwrapping the writer they are given (so Caddy's
// own wrappers may sit between them, in any order) and fill in their
// slot instead of wrapping again. A slot is a plain value: no interface
// call, no allocation. The whole chain thus costs one allocation per
// request: this struct, which also holds the header values it writes.
//
// The response header is settled once, in one pass (settle), just before
// it is written: at the first final WriteHeader (or Write, ReadFrom,
// Flush, which imply 200), or, if the chain returned an error instead of
// writing, by the handler that installed the writer (finishChain), so
// that the error route, which writes to the same header map, answers with
// the same headers. In that pass:
//
//   - every Access-Control-* header is removed, whoever set it (issue 17
//     class 7: CORS grants come only from apigw_cors), then apigw_cors
//     writes its grant, if any;
//   - with apigw_errors, Server, X-Powered-By, Via and the other
//     server-identifying headers go, and a 5xx (4xx with scrub_4xx) is
//     scrubbed: its headers are dropped (request id kept), the status
//     is not written and the body is discarded after the first
//     max_logged_body bytes (kept for the log), for the problem JSON the
//     error route writes; nothing is buffered on any other status;
//   - apigw_security_headers writes its headers.
//
// Informational responses (1xx but 101, e.g. a 103 Early Hints an
// upstream sends) are written with the Link header only (issue 17
// class 15): no Set-Cookie, no Server, no debug header reaches the
// client on them, whatever the upstream said.
//
// Flush, Hijack (websockets) and Push reach the underlying writer
// through Unwrap (Caddy's ResponseWriterWrapper); ReadFrom keeps the
// sendfile path.
type chainWriter struct {
	caddyhttp.ResponseWriterWrapper
	r *http.Request

	// the slots of the handlers that joined
	sec      *SecurityHeaders
	cors     corsState
	errs     *Errors
	idHeader string // apigw_request_id's extra header ("" for the default)

	settled bool // the header pass ran
	// scrubbed: apigw_errors took over this 5xx (see settle)
	scrubbed   bool
	status     int    // the status scrubbed
	upstreamCT string // its Content-Type, for the log
	retryAfter string // a 503's Retry-After, for the problem
	body       []byte // its first max_logged_body bytes, for the log

	// header values written by the chain (the request id, then the
	// pass): the header maps get slices of this array, never a shared
	// slice (Caddy's `header` directive edits values in place), and they
	// cost no allocation of their own. 20: the request id twice, helmet's
	// 12 headers, apigw_cors' 4, and room to spare.
	nvals int
	vals  [20]string
}

// corsState is apigw_cors's slot.
type corsState struct {
	c         *CORS
	origin    string
	on        bool // apigw_cors joined
	allowed   bool // origin is granted
	preflight bool // answering a preflight (204 from the handler)
}

// joinChain returns the request's chain writer: the one a handler earlier
// in the chain installed (found by unwrapping w), or a new one wrapping w,
// in which case owner is true and the caller must call finishChain after
// the rest of the chain returned.
func joinChain(w http.ResponseWriter, r *http.Request) (cw *chainWriter, owner bool) {
	for u := w; ; {
		if cw, ok := u.(*chainWriter); ok && !cw.settled {
			return cw, false
		}
		uw, ok := u.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			break
		}
		u = uw.Unwrap()
	}
	return &chainWriter{ResponseWriterWrapper: caddyhttp.ResponseWriterWrapper{ResponseWriter: w}, r: r}, true
}

// finishChain settles the header if the chain returned without writing
// one: for an error, with its status, before the error route writes the
// response to the same header map; for nil, with the 200 net/http sends.
func finishChain(cw *chainWriter, err error) {
	if cw.settled {
		return
	}
	status := http.StatusOK
	if err != nil {
		status = responseStatus(err)
	}
	cw.settle(status, false)
}

// one returns a one-element header value holding v, backed by cw.vals
// while room lasts, with no spare capacity (an append by anyone else
// reallocates instead of writing into the next value).
func (cw *chainWriter) one(v string) []string {
	if cw.nvals == len(cw.vals) {
		return []string{v}
	}
	i := cw.nvals
	cw.nvals++
	cw.vals[i] = v
	return cw.vals[i : i+1 : i+1]
}

// many returns a header value holding vals, like one.
func (cw *chainWriter) many(vals []string) []string {
	if cw.nvals+len(vals) > len(cw.vals) {
		return append([]string(nil), vals...)
	}
	i := cw.nvals
	cw.nvals += copy(cw.vals[i:], vals)
	return cw.vals[i:cw.nvals:cw.nvals]
}

// serveChain runs the rest of the chain after a handler joined it: the
// installing handler (owner) passes the chain writer on and settles the
// header if nothing was written; the others pass on the writer they got
// (Caddy's own wrappers between them stay in place).
func serveChain(cw *chainWriter, owner bool, w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if !owner {
		return next.ServeHTTP(w, r)
	}
	err := next.ServeHTTP(cw, r)
	finishChain(cw, err)
	return err
}

// settle is the one header pass (see chainWriter). write is false when
// the chain returned without writing (the error route writes instead).
// It reports whether the status must be written to the client.
func (cw *chainWriter) settle(status int, write bool) bool {
	cw.settled = true
	h := cw.ResponseWriter.Header()
	scrub := write && cw.errs != nil && cw.errs.scrubs(status)
	for k := range h {
		switch {
		case secheaders.IsCORS(k):
			delete(h, k)
		case cw.errs != nil && secheaders.IsServerIdentifying(k):
			delete(h, k)
		case scrub && k != requestIDKey && k != cw.idHeader:
			// the upstream's headers describe the body being replaced,
			// or leak internals (X-Debug-*, Set-Cookie): only the
			// request id stays; our own headers are written below
			if v := h[k]; len(v) > 0 {
				switch k {
				case "Content-Type":
					cw.upstreamCT = v[0]
				case "Retry-After":
					cw.retryAfter = v[0]
				}
			}
			delete(h, k)
		}
	}
	if scrub {
		cw.scrubbed, cw.status = true, status
	}
	if cw.cors.on {
		cw.cors.c.apply(h, &cw.cors, cw)
	}
	if cw.sec != nil {
		cw.sec.apply(h, cw.r, cw)
	}
	return !scrub
}

// WriteHeader settles the header at the first final status and writes
// it unless apigw_errors scrubs it. Informational statuses but 101 pass
// with the Link header only.
func (cw *chainWriter) WriteHeader(status int) {
	if cw.settled {
		if !cw.scrubbed {
			cw.ResponseWriter.WriteHeader(status)
		}
		return
	}
	if status >= 100 && status < 200 && status != http.StatusSwitchingProtocols {
		cw.writeInformational(status)
		return
	}
	if cw.settle(status, true) {
		cw.ResponseWriter.WriteHeader(status)
	}
}

// writeInformational writes a 1xx with nothing but the Link header: every
// other entry of the header map is set aside and put back afterwards
// (Caddy's reverse_proxy then removes the upstream's 1xx headers itself).
func (cw *chainWriter) writeInformational(status int) {
	h := cw.ResponseWriter.Header()
	type entry struct {
		k string
		v []string
	}
	var buf [16]entry
	aside := buf[:0]
	for k, v := range h {
		if k != "Link" {
			aside = append(aside, entry{k, v})
			delete(h, k)
		}
	}
	cw.ResponseWriter.WriteHeader(status)
	for _, e := range aside {
		h[e.k] = e.v
	}
}

// Write implies status 200; a scrubbed body is kept for the log up to
// the configured bytes and otherwise dropped.
func (cw *chainWriter) Write(b []byte) (int, error) {
	if !cw.settled {
		cw.WriteHeader(http.StatusOK)
	}
	if cw.scrubbed {
		cw.keep(b)
		return len(b), nil
	}
	return cw.ResponseWriter.Write(b)
}

// keep appends the part of b that still fits the logged body.
func (cw *chainWriter) keep(b []byte) {
	if room := cw.errs.loggedBody() - len(cw.body); room > 0 {
		cw.body = append(cw.body, b[:min(room, len(b))]...)
	}
}

// ReadFrom implies status 200 and keeps the underlying writer's
// ReadFrom (sendfile) for a response that is not scrubbed.
func (cw *chainWriter) ReadFrom(src io.Reader) (int64, error) {
	if !cw.settled {
		cw.WriteHeader(http.StatusOK)
	}
	if cw.scrubbed {
		return io.Copy(writerOnly{cw}, src)
	}
	return cw.ResponseWriterWrapper.ReadFrom(src)
}

// writerOnly hides ReadFrom so io.Copy uses Write.
type writerOnly struct{ io.Writer }

// Flush implies status 200 (as net/http's does) and flushes unless the
// response is scrubbed.
func (cw *chainWriter) Flush() { _ = cw.FlushError() }

// FlushError is Flush for http.ResponseController.
func (cw *chainWriter) FlushError() error {
	if !cw.settled {
		cw.WriteHeader(http.StatusOK)
	}
	if cw.scrubbed {
		return nil
	}
	return http.NewResponseController(cw.ResponseWriter).Flush()
}

// Interface guards
var (
	_ http.ResponseWriter                       = (*chainWriter)(nil)
	_ http.Flusher                              = (*chainWriter)(nil)
	_ io.ReaderFrom                             = (*chainWriter)(nil)
	_ interface{ Unwrap() http.ResponseWriter } = (*chainWriter)(nil)
	_ interface{ FlushError() error }           = (*chainWriter)(nil)
	_ interface {
		Push(string, *http.PushOptions) error
	} = (*chainWriter)(nil)
)
