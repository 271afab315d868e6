package caddymodule

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// nopWriter is a ResponseWriter that keeps nothing but its header map.
type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *nopWriter) WriteHeader(int)             {}

func benchRateLimit(b *testing.B, rate string, countStatus []int, algorithm ...string) {
	z := &RateLimitZone{Name: "per_user", Key: "{http.auth.user.id}", Rate: rate, CountStatus: countStatus}
	if len(algorithm) > 0 {
		z.Algorithm = algorithm[0]
	}
	rl := newTestRateLimit(b, &RateLimit{Zones: []*RateLimitZone{z}}, nil, nil)
	req := httptest.NewRequest("GET", "/key/x", nil)
	repl := caddyhttp.NewTestReplacer(req)
	repl.Set("http.auth.user.id", "demo-user")
	req = req.WithContext(context.WithValue(req.Context(), caddy.ReplacerCtxKey, repl))
	w := &nopWriter{h: make(http.Header)}
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.WriteHeader(http.StatusOK)
		return nil
	})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = rl.ServeHTTP(w, req, next)
	}
}

// BenchmarkRateLimitHandlerAllow: an allowed request through the handler
// (key lookup, decision, RateLimit-Policy and RateLimit headers).
func BenchmarkRateLimitHandlerAllow(b *testing.B) {
	benchRateLimit(b, "1000000/1s", nil)
}

// BenchmarkRateLimitHandlerDeny: a denied request (429 problem built).
func BenchmarkRateLimitHandlerDeny(b *testing.B) {
	benchRateLimit(b, "1/1h", nil)
}

// BenchmarkRateLimitHandlerCountStatus: a failed-attempt zone whose
// response does not count (reserve, then refund).
func BenchmarkRateLimitHandlerCountStatus(b *testing.B) {
	benchRateLimit(b, "1000000/1s", []int{401})
}

// BenchmarkRateLimitHandlerSlidingAllow: an allowed request through a
// sliding_window zone.
func BenchmarkRateLimitHandlerSlidingAllow(b *testing.B) {
	benchRateLimit(b, "2000000000/1h", nil, "sliding_window")
}

// BenchmarkRateLimitHandlerSlidingDeny: a denied request through a
// sliding_window zone (429 problem built).
func BenchmarkRateLimitHandlerSlidingDeny(b *testing.B) {
	benchRateLimit(b, "1/1h", nil, "sliding_window")
}

// BenchmarkRateLimitHandlerPlans: an allowed request through a zone with
// consumer plans (the plan read from {http.auth.user.tier}).
func BenchmarkRateLimitHandlerPlans(b *testing.B) {
	z := &RateLimitZone{Name: "per_user", Key: "{http.auth.user.id}", RateFrom: "{http.auth.user.tier}",
		Plans: map[string]string{"gold": "2000000000/1h", DefaultPlan: "10/1m"}}
	rl := newTestRateLimit(b, &RateLimit{Zones: []*RateLimitZone{z}}, nil, nil)
	req := httptest.NewRequest("GET", "/key/x", nil)
	repl := caddyhttp.NewTestReplacer(req)
	repl.Set("http.auth.user.id", "demo-user")
	repl.Set("http.auth.user.tier", "gold")
	req = req.WithContext(context.WithValue(req.Context(), caddy.ReplacerCtxKey, repl))
	w := &nopWriter{h: make(http.Header)}
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error { return nil })
	b.ReportAllocs()
	for b.Loop() {
		if err := rl.ServeHTTP(w, req, next); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRateLimitHandlerCalendar: an allowed request through a
// calendar quota.
func BenchmarkRateLimitHandlerCalendar(b *testing.B) {
	benchRateLimit(b, "2000000000/calendar_day", nil)
}
