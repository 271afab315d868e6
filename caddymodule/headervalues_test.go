package caddymodule

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// tamper rewrites every response header value in place, as Caddy's
// `header` replace operations do.
func tamper(w http.ResponseWriter, _ *http.Request) error {
	for _, v := range w.Header() {
		for i := range v {
			v[i] = "tampered"
		}
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// TestHeaderValuesNotShared checks that a handler later in the chain that
// edits header values in place cannot change what the next request gets:
// the security-header and CORS handlers must not put shared slices into
// response header maps.
func TestHeaderValuesNotShared(t *testing.T) {
	sh := provisionSH(t, &SecurityHeaders{})
	cors := provisionCORS(t, &CORS{Origins: []string{"http://localhost:3000"}, Credentials: true})
	for _, tc := range []struct {
		name   string
		h      caddyhttp.MiddlewareHandler
		method string
		hdr    map[string]string
		check  []string
	}{
		{name: "security headers", h: sh, method: "GET",
			check: []string{"Content-Security-Policy", "X-Frame-Options", "Referrer-Policy"}},
		{name: "cors simple", h: cors, method: "GET", hdr: map[string]string{"Origin": "http://localhost:3000"},
			check: []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Access-Control-Expose-Headers", "Vary"}},
		{name: "cors preflight", h: cors, method: "OPTIONS",
			hdr:   map[string]string{"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"},
			check: []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Methods", "Access-Control-Max-Age", "Vary"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			serve := func(next caddyhttp.HandlerFunc) http.Header {
				r := httptest.NewRequest(tc.method, "http://127.0.0.1/x", nil)
				for k, v := range tc.hdr {
					r.Header.Set(k, v)
				}
				repl := caddyhttp.NewTestReplacer(r)
				r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl))
				w := httptest.NewRecorder()
				if err := tc.h.ServeHTTP(w, r, next); err != nil {
					t.Fatal(err)
				}
				if tc.method == "OPTIONS" {
					// the preflight ends in the handler: tamper afterwards
					_ = tamper(w, r)
				}
				return w.Result().Header
			}
			want := serve(okHandler)
			serve(tamper)
			got := serve(okHandler)
			for _, name := range tc.check {
				if want.Get(name) == "" {
					t.Fatalf("%s not set at all", name)
				}
				if got.Get(name) != want.Get(name) {
					t.Errorf("%s = %q after another request edited its value, want %q", name, got.Get(name), want.Get(name))
				}
			}
		})
	}
}
