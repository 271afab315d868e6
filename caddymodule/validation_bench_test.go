package caddymodule

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

// discardWriter is a ResponseWriter with a reusable header map.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}

func (d *discardWriter) reset() {
	for k := range d.h {
		delete(d.h, k)
	}
}

var nextOK = caddyhttp.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) error {
	w.WriteHeader(http.StatusOK)
	return nil
})

func BenchmarkCORSPreflight(b *testing.B) {
	c := provisionCORS(b, &CORS{Origins: []string{"http://localhost:3000", "https://*.example.com"}, Credentials: true})
	r := httptest.NewRequest("OPTIONS", "/x", nil)
	r.Header.Set("Origin", "https://app.example.com")
	r.Header.Set("Access-Control-Request-Method", "PUT")
	r.Header.Set("Access-Control-Request-Headers", "content-type, x-api-key")
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		w.reset()
		_ = c.ServeHTTP(w, r, nextOK)
	}
}

func BenchmarkCORSSimple(b *testing.B) {
	c := provisionCORS(b, &CORS{Origins: []string{"http://localhost:3000"}, Credentials: true})
	r := httptest.NewRequest("GET", "/x", nil)
	r.Header.Set("Origin", "http://localhost:3000")
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		w.reset()
		_ = c.ServeHTTP(w, r, nextOK)
	}
}

func BenchmarkSecurityHeaders(b *testing.B) {
	s := provisionSH(b, &SecurityHeaders{})
	r := httptest.NewRequest("GET", "/x", nil)
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		w.reset()
		_ = s.ServeHTTP(w, r, nextOK)
	}
}

func BenchmarkRequestID(b *testing.B) {
	h := &RequestIDHandler{}
	_ = h.Provision(caddy.Context{})
	r := httptest.NewRequest("GET", "/x", nil)
	repl := caddyhttp.NewTestReplacer(r)
	r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl))
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		w.reset()
		_ = h.ServeHTTP(w, r, nextOK)
	}
}

func BenchmarkErrorsPassthrough(b *testing.B) {
	e := &Errors{logger: zap.NewNop(), MaxLoggedBody: 2048}
	r := httptest.NewRequest("GET", "/x", nil)
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		w.reset()
		_ = e.ServeHTTP(w, r, nextOK)
	}
}
