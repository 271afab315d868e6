package caddymodule

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// serveFrom runs one request from client address ip through rl.
func serveFrom(t testing.TB, rl *RateLimit, ip string, userID string) error {
	t.Helper()
	req := httptest.NewRequest("POST", "/login", nil)
	req.RemoteAddr = "[" + ip + "]:4242"
	req = req.WithContext(context.WithValue(req.Context(), caddyhttp.VarsCtxKey, map[string]any{caddyhttp.ClientIPVarKey: ip}))
	repl := caddyhttp.NewTestReplacer(req)
	if userID != "" {
		repl.Set("http.auth.user.id", userID)
	}
	if v, ok := repl.Get("http.vars.client_ip"); !ok || v != ip {
		t.Fatalf("{http.vars.client_ip} = %v, want %s", v, ip)
	}
	ctx := context.WithValue(req.Context(), caddy.ReplacerCtxKey, repl)
	return rl.ServeHTTP(httptest.NewRecorder(), req.WithContext(ctx), caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.WriteHeader(http.StatusUnauthorized)
		return nil
	}))
}

// TestRateLimitIPv6Prefix: addresses of one /64 share a bucket (the
// login failure zone, a {client_ip} zone, {remote_host} and the empty-key
// fallback), other /64s do not; ipv6_prefix moves the boundary per
// handler and per zone.
func TestRateLimitIPv6Prefix(t *testing.T) {
	for _, tc := range []struct {
		name      string
		rl        func() *RateLimit
		user      string
		same, far string // a neighbour that shares the bucket; one that does not
	}{
		{"login failures by /64", func() *RateLimit {
			return &RateLimit{Zones: []*RateLimitZone{{Name: "login", Key: "{http.vars.client_ip}", Rate: "3/15m", CountStatus: []int{401}}}}
		}, "", "2001:db8:0:1:ffff::9", "2001:db8:0:2::1"},
		{"remote_host with a path", func() *RateLimit {
			return &RateLimit{Zones: []*RateLimitZone{{Name: "z", Key: "{http.request.remote.host}|{http.request.uri.path}", Rate: "3/1h"}}}
		}, "", "2001:db8:0:1:ffff::9", "2001:db8:0:2::1"},
		{"empty-key fallback", func() *RateLimit {
			return &RateLimit{Zones: []*RateLimitZone{{Name: "per_user", Key: "{http.auth.user.id}", Rate: "3/1h"}}}
		}, "", "2001:db8:0:1:ffff::9", "2001:db8:0:2::1"},
		{"handler ipv6_prefix 56", func() *RateLimit {
			return &RateLimit{IPv6Prefix: 56, Zones: []*RateLimitZone{{Name: "z", Key: "{http.vars.client_ip}", Rate: "3/1h"}}}
		}, "", "2001:db8:0:ff::1", "2001:db8:0:100::1"},
		{"zone ipv6_prefix 48 wins", func() *RateLimit {
			return &RateLimit{IPv6Prefix: 56, Zones: []*RateLimitZone{{Name: "z", Key: "{http.vars.client_ip}", Rate: "3/1h", IPv6Prefix: 48}}}
		}, "", "2001:db8:0:ffff::1", "2001:db8:1::1"},
		{"ipv6_prefix 128: per address", func() *RateLimit {
			return &RateLimit{Zones: []*RateLimitZone{{Name: "z", Key: "{http.vars.client_ip}", Rate: "3/1h", IPv6Prefix: 128}}}
		}, "", "", "2001:db8:0:1::2"},
		{"user keys are not grouped", func() *RateLimit {
			return &RateLimit{Zones: []*RateLimitZone{{Name: "z", Key: "{http.auth.user.id}", Rate: "3/1h"}}}
		}, "alice", "2001:db8:0:2::1", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rl := newTestRateLimit(t, tc.rl(), new(testClock), nil)
			first := "2001:db8:0:1::1"
			for i := 0; i < 3; i++ {
				if err := serveFrom(t, rl, first, tc.user); err != nil {
					t.Fatalf("request %d: %v", i+1, err)
				}
			}
			if tc.same != "" && serveFrom(t, rl, tc.same, tc.user) == nil {
				t.Fatalf("%s is in %s's bucket but was allowed", tc.same, first)
			}
			if tc.far != "" {
				if err := serveFrom(t, rl, tc.far, tc.user); err != nil {
					t.Fatalf("%s shares %s's bucket: %v", tc.far, first, err)
				}
			}
		})
	}
	t.Run("IPv4-mapped counts as IPv4", func(t *testing.T) {
		rl := newTestRateLimit(t, &RateLimit{Zones: []*RateLimitZone{{Name: "z", Key: "{http.vars.client_ip}", Rate: "2/1h"}}}, new(testClock), nil)
		_ = serveFrom(t, rl, "::ffff:203.0.113.7", "")
		_ = serveFrom(t, rl, "::ffff:203.0.113.7", "")
		if serveFrom(t, rl, "::ffff:203.0.113.7", "") == nil {
			t.Fatal("third request allowed")
		}
		if err := serveFrom(t, rl, "::ffff:203.0.113.8", ""); err != nil {
			t.Fatalf("neighbouring IPv4 grouped with a /64 rule: %v", err)
		}
	})
	for _, bad := range []int{-1, 129} {
		rl := &RateLimit{IPv6Prefix: bad, Zones: []*RateLimitZone{{Name: "z", Key: "{http.vars.client_ip}", Rate: "3/1h"}}}
		ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
		if err := rl.provisionZones(ctx); err == nil {
			t.Errorf("ipv6_prefix %d accepted", bad)
		}
		cancel()
	}
}

// BenchmarkRateLimitKeyIPv6: keyFor of a {client_ip} zone for an IPv6
// client, as the handler runs it.
func BenchmarkRateLimitKeyIPv6(b *testing.B) {
	rl := newTestRateLimit(b, &RateLimit{Zones: []*RateLimitZone{{Name: "z", Key: "{http.vars.client_ip}", Rate: "3/1h"}}}, nil, nil)
	req := httptest.NewRequest("GET", "/", nil)
	req = req.WithContext(context.WithValue(req.Context(), caddyhttp.VarsCtxKey, map[string]any{caddyhttp.ClientIPVarKey: "2001:db8:85a3:8d3:1319:8a2e:370:7348"}))
	repl := caddyhttp.NewTestReplacer(req)
	z := rl.Zones[0]
	b.ReportAllocs()
	for b.Loop() {
		if k, ok := rl.keyFor(z, repl, req); !ok || k != "2001:db8:85a3:8d3::/64" {
			b.Fatalf("key %q", k)
		}
	}
}
