package caddymodule

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/apigw/caddy-apigw/problem"
	"github.com/apigw/caddy-apigw/secheaders"
)

// chainWriters counts the chain writers under w.
func chainWriters(w http.ResponseWriter) int {
	n := 0
	for {
		if _, ok := w.(*chainWriter); ok {
			n++
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return n
		}
		w = u.Unwrap()
	}
}

func permutations(n int) [][]int {
	if n == 1 {
		return [][]int{{0}}
	}
	var out [][]int
	for _, p := range permutations(n - 1) {
		for i := 0; i <= len(p); i++ {
			q := append(append(append([]int(nil), p[:i]...), n-1), p[i:]...)
			out = append(out, q)
		}
	}
	return out
}

// TestChainOneWriterAnyOrder runs the four site-wide handlers in every
// order, with one of Caddy's own wrappers between each two, in front of
// an upstream that grants CORS itself and leaks its software: one chain
// writer serves them all, and the response rules hold for a passed 200,
// a scrubbed 500 and an error returned by a later handler.
func TestChainOneWriterAnyOrder(t *testing.T) {
	rid := &RequestIDHandler{}
	if err := rid.Provision(caddy.Context{}); err != nil {
		t.Fatal(err)
	}
	sh := provisionSH(t, &SecurityHeaders{})
	cors := provisionCORS(t, &CORS{Origins: []string{"http://localhost:3000"}, Credentials: true})
	errs := &Errors{}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	if err := errs.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	handlers := []caddyhttp.MiddlewareHandler{rid, sh, cors, errs}
	names := []string{"request_id", "security_headers", "cors", "errors"}
	for _, order := range permutations(len(handlers)) {
		var label []string
		for _, i := range order {
			label = append(label, names[i])
		}
		for _, upstream := range []string{"200", "500", "error 401"} {
			t.Run(strings.Join(label, ",")+"/"+upstream, func(t *testing.T) {
				writers := -1
				var next caddyhttp.Handler = caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
					writers = chainWriters(w)
					h := w.Header()
					h.Set("Access-Control-Allow-Origin", "*")
					h["access-control-allow-private-network"] = []string{"true"} // not canonical
					h.Set("Server", "upstream")
					h.Set("X-Debug", "sql")
					switch upstream {
					case "error 401":
						return caddyhttp.Error(http.StatusUnauthorized, errors.New("no"))
					case "500":
						w.WriteHeader(http.StatusInternalServerError)
					default:
						w.WriteHeader(http.StatusOK)
					}
					_, _ = io.WriteString(w, "upstream body")
					return nil
				})
				for i := len(order) - 1; i >= 0; i-- {
					h, n := handlers[order[i]], next
					next = caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
						// one of Caddy's wrappers in front of every handler
						return h.ServeHTTP(&caddyWrapper{caddyhttp.ResponseWriterWrapper{ResponseWriter: w}}, r, n)
					})
				}
				r := httptest.NewRequest("GET", "/x", nil)
				r.Header.Set("Origin", "http://localhost:3000")
				repl := caddyhttp.NewTestReplacer(r)
				r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl))
				w := httptest.NewRecorder()
				w.Header().Set("Server", "Caddy")
				err := next.ServeHTTP(w, r)
				if writers != 1 {
					t.Fatalf("%d chain writers, want 1", writers)
				}
				h := w.Header()
				switch upstream {
				case "200":
					if err != nil || w.Code != 200 || w.Body.String() != "upstream body" || h.Get("X-Debug") != "sql" {
						t.Fatalf("passed answer changed: %v %d %q %v", err, w.Code, w.Body.String(), h)
					}
				case "500":
					var p *problem.Problem
					if !errors.As(err, &p) || p.Status != 500 || w.Body.Len() != 0 || h.Get("X-Debug") != "" {
						t.Fatalf("500 not scrubbed: %v body %q headers %v", err, w.Body.String(), h)
					}
				case "error 401":
					if err == nil {
						t.Fatal("error swallowed")
					}
				}
				for k, v := range h {
					if secheaders.IsCORS(k) && k != "Access-Control-Allow-Origin" && k != "Access-Control-Allow-Credentials" && k != "Access-Control-Expose-Headers" {
						t.Errorf("%s: %q reached the client", k, v)
					}
				}
				if v := h.Values("Access-Control-Allow-Origin"); len(v) != 1 || v[0] != "http://localhost:3000" {
					t.Errorf("Access-Control-Allow-Origin %q, want only the gateway's grant", v)
				}
				if h.Get("Access-Control-Allow-Credentials") != "true" || h.Get("Vary") != "Origin" {
					t.Errorf("CORS headers: %v", h)
				}
				if h.Get("Content-Security-Policy") != secheaders.HelmetCSP || h.Get("X-Request-Id") == "" {
					t.Errorf("security headers or request id missing: %v", h)
				}
				if v := h.Values("Server"); len(v) != 0 {
					t.Errorf("Server %q reached the client", v)
				}
			})
		}
	}
}

// fakeConnWriter records what reaches the client and supports the
// optional interfaces Caddy's server writer has.
type fakeConnWriter struct {
	h         http.Header
	statuses  []int
	sent      []http.Header // the header map at each WriteHeader
	body      strings.Builder
	flushed   int
	readFrom  int
	hijacked  bool
	writeSeen bool
}

func (f *fakeConnWriter) Header() http.Header { return f.h }
func (f *fakeConnWriter) WriteHeader(s int) {
	f.statuses = append(f.statuses, s)
	f.sent = append(f.sent, f.h.Clone())
}
func (f *fakeConnWriter) Write(b []byte) (int, error) {
	f.writeSeen = true
	return f.body.Write(b)
}
func (f *fakeConnWriter) Flush() { f.flushed++ }
func (f *fakeConnWriter) ReadFrom(r io.Reader) (int64, error) {
	f.readFrom++
	return io.Copy(&f.body, r)
}
func (f *fakeConnWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	f.hijacked = true
	return nil, nil, nil
}

// TestChainWriterInterfaces: Flush, ReadFrom and Hijack reach the
// client's writer; Flush and ReadFrom settle the header first; a 103
// leaves with its Link header only and the header map is as it was
// afterwards; a 101 is final.
func TestChainWriterInterfaces(t *testing.T) {
	sh := provisionSH(t, &SecurityHeaders{})
	for _, tc := range []struct {
		name  string
		serve func(t *testing.T, w http.ResponseWriter)
		check func(t *testing.T, f *fakeConnWriter)
	}{
		{"flush before write", func(t *testing.T, w http.ResponseWriter) {
			if err := http.NewResponseController(w).Flush(); err != nil {
				t.Fatal(err)
			}
			w.(http.Flusher).Flush()
		}, func(t *testing.T, f *fakeConnWriter) {
			if f.flushed != 2 || len(f.statuses) != 1 || f.statuses[0] != 200 || f.sent[0].Get("X-Content-Type-Options") != "nosniff" {
				t.Fatalf("flushed %d, statuses %v, headers %v", f.flushed, f.statuses, f.sent)
			}
		}},
		{"read from", func(t *testing.T, w http.ResponseWriter) {
			if _, err := w.(io.ReaderFrom).ReadFrom(strings.NewReader("file")); err != nil {
				t.Fatal(err)
			}
		}, func(t *testing.T, f *fakeConnWriter) {
			if f.readFrom != 1 || f.body.String() != "file" || f.sent[0].Get("X-Frame-Options") != "SAMEORIGIN" {
				t.Fatalf("readFrom %d body %q headers %v", f.readFrom, f.body.String(), f.sent)
			}
		}},
		{"hijack", func(t *testing.T, w http.ResponseWriter) {
			w.WriteHeader(http.StatusSwitchingProtocols)
			if _, _, err := http.NewResponseController(w).Hijack(); err != nil {
				t.Fatal(err)
			}
		}, func(t *testing.T, f *fakeConnWriter) {
			if !f.hijacked || len(f.statuses) != 1 || f.statuses[0] != 101 {
				t.Fatalf("hijacked %v statuses %v", f.hijacked, f.statuses)
			}
		}},
		{"early hints", func(t *testing.T, w http.ResponseWriter) {
			h := w.Header()
			h.Set("Link", "</a.css>; rel=preload")
			h.Set("Set-Cookie", "a=b")
			h.Set("Server", "up")
			w.WriteHeader(http.StatusEarlyHints)
			if h.Get("Set-Cookie") != "a=b" || h.Get("Link") == "" || h.Get("X-Request-Id") != "rid" {
				t.Fatalf("header map not restored after the 103: %v", h)
			}
			delete(h, "Link")
			delete(h, "Set-Cookie")
			delete(h, "Server")
			w.WriteHeader(http.StatusOK)
		}, func(t *testing.T, f *fakeConnWriter) {
			if len(f.statuses) != 2 || f.statuses[0] != 103 || f.statuses[1] != 200 {
				t.Fatalf("statuses %v", f.statuses)
			}
			if len(f.sent[0]) != 1 || f.sent[0].Get("Link") == "" {
				t.Fatalf("103 carried %v, want Link only", f.sent[0])
			}
			if f.sent[1].Get("X-Request-Id") != "rid" || f.sent[1].Get("X-Content-Type-Options") != "nosniff" {
				t.Fatalf("final header %v", f.sent[1])
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeConnWriter{h: http.Header{"X-Request-Id": {"rid"}}}
			r := httptest.NewRequest("GET", "/", nil)
			err := sh.ServeHTTP(f, r, caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				tc.serve(t, w)
				return nil
			}))
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, f)
		})
	}
}
