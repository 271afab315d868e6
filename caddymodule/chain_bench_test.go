package caddymodule

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// benchWriter is a reusable http.ResponseWriter: its header map is
// cleared between iterations, so what a benchmark counts is the chain's
// own work, not the test's.
type benchWriter struct {
	h      http.Header
	status int
}

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) WriteHeader(s int)           { w.status = s }
func (w *benchWriter) Write(b []byte) (int, error) { return len(b), nil }

var benchBody = []byte(`{"ok":true,"items":[1,2,3]}`)

// benchUpstream sets what reverse_proxy copies from a typical upstream
// answer (the values are package-level: the header map is rebuilt each
// iteration and they are never written to).
var (
	benchCT   = []string{"application/json"}
	benchDate = []string{"Thu, 03 Dec 2026 09:00:00 GMT"}
	benchLen  = []string{"27"}
)

func benchUpstream(w http.ResponseWriter, _ *http.Request) error {
	h := w.Header()
	h["Content-Type"] = benchCT
	h["Date"] = benchDate
	h["Content-Length"] = benchLen
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(benchBody)
	return nil
}

// caddyWrapper stands for one of Caddy's own response wrappers (encode,
// a deferred header, ...) sitting between two of our handlers.
type caddyWrapper struct {
	caddyhttp.ResponseWriterWrapper
}

// BenchmarkSiteChain measures each site-wide handler alone and the demo
// chain (request id, CORS, security headers, errors) in front of an
// upstream answering 200, with an allowed cross-origin request: ns/op and
// allocs/op of our handlers only. Compare a commit with another with
// `go test ./caddymodule -run '^$' -bench SiteChain -benchmem`.
func BenchmarkSiteChain(b *testing.B) {
	rid := &RequestIDHandler{}
	if err := rid.Provision(caddy.Context{}); err != nil {
		b.Fatal(err)
	}
	sh := provisionSH(b, &SecurityHeaders{})
	cors := provisionCORS(b, &CORS{Origins: []string{"http://localhost:3000"}, Credentials: true})
	errs := &Errors{}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	if err := errs.Provision(ctx); err != nil {
		b.Fatal(err)
	}
	chain := func(hs ...caddyhttp.MiddlewareHandler) caddyhttp.Handler {
		var next caddyhttp.Handler = caddyhttp.HandlerFunc(benchUpstream)
		for i := len(hs) - 1; i >= 0; i-- {
			h, n := hs[i], next
			next = caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				return h.ServeHTTP(w, r, n)
			})
		}
		return next
	}
	for _, tc := range []struct {
		name string
		h    caddyhttp.Handler
	}{
		{"request_id", chain(rid)},
		{"security_headers", chain(sh)},
		{"cors", chain(cors)},
		{"errors", chain(errs)},
		{"chain", chain(rid, cors, sh, errs)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			r := httptest.NewRequest("GET", "http://127.0.0.1/open/items", nil)
			r.Header.Set("Origin", "http://localhost:3000")
			repl := caddyhttp.NewTestReplacer(r)
			r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl))
			w := &benchWriter{h: make(http.Header)} // as net/http makes it
			server := []string{"Caddy"}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				w.h["Server"] = server
				if err := tc.h.ServeHTTP(w, r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
