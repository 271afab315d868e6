package caddymodule

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"

	"github.com/apigw/caddy-apigw/authn"
)

func TestMetricsRegisterPerConfig(t *testing.T) {
	for i := 0; i < 2; i++ { // two configs (a reload): each registry gets the collectors
		ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
		redis := i == 1 // a memory config, then a Redis one
		if err := registerMetrics(ctx, redis); err != nil {
			t.Fatalf("config %d: %v", i, err)
		}
		if err := registerMetrics(ctx, redis); err != nil {
			t.Fatalf("config %d, second app instance: %v", i, err)
		}
		c := newLimitCounters("z")
		c.observe(true, nil)
		storeObserver{}.ObserveHealth("redis", true)
		mfs, err := ctx.GetMetricsRegistry().Gather()
		if err != nil {
			t.Fatal(err)
		}
		found, store := false, false
		for _, mf := range mfs {
			found = found || mf.GetName() == "apigw_rate_limit_decisions_total"
			store = store || strings.HasPrefix(mf.GetName(), "apigw_store_")
		}
		if !found {
			t.Fatal("apigw_rate_limit_decisions_total not in the config's registry")
		}
		if store != redis {
			t.Fatalf("store metrics registered = %v with a Redis store = %v", store, redis)
		}
		cancel()
	}
}

func TestMetricsCounting(t *testing.T) {
	req := httptest.NewRequest("GET", "/key/x", nil)
	repl := caddyhttp.NewTestReplacer(req)
	req = req.WithContext(context.WithValue(req.Context(), caddy.ReplacerCtxKey, repl))

	for _, tc := range []struct {
		name   string
		do     func()
		metric func() float64
		want   float64
	}{
		{"auth success by method", func() { PublishIdentity(req, &authn.Identity{ID: "u", Method: "api_key"}, IdentityHeaders{}) },
			func() float64 { return testutil.ToFloat64(metricAuth.WithLabelValues("api_key", "success")) }, 1},
		{"auth failure with method field", func() { Audit(req, "auth_failed", "invalid_api_key", zap.String("auth_method", "api_key")) },
			func() float64 { return testutil.ToFloat64(metricAuth.WithLabelValues("api_key", "invalid_api_key")) }, 1},
		{"auth failure method from identity", func() { Audit(req, "forbidden", "insufficient_scope") },
			func() float64 { return testutil.ToFloat64(metricAuth.WithLabelValues("api_key", "insufficient_scope")) }, 1},
		{"rejects by event and code", func() { Audit(req, "validation_rejected", "validation_failed") },
			func() float64 {
				return testutil.ToFloat64(metricRejects.WithLabelValues("validation_failed"))
			}, 1},
		{"validation rejects", func() { Audit(req, "validation_rejected", "payload_too_large") },
			func() float64 { return testutil.ToFloat64(metricRejects.WithLabelValues("payload_too_large")) }, 1},
		{"signature success", func() { observeAuthSuccess("signature") },
			func() float64 { return testutil.ToFloat64(metricAuth.WithLabelValues("signature", "success")) }, 1},
		{"unknown method bounded", func() { observeAuthSuccess("<script>") },
			func() float64 { return testutil.ToFloat64(metricAuth.WithLabelValues("other", "success")) }, 1},
		{"scrubbed upstream", func() { Audit(req, "upstream_scrubbed", "upstream_error") },
			func() float64 { return testutil.ToFloat64(metricScrubbed) }, 1},
		{"unknown code bounded", func() { Audit(req, "x", "user-chosen-<script>") },
			func() float64 { return testutil.ToFloat64(metricRejects.WithLabelValues("other")) }, 1},
		{"rate limited", func() { Audit(req, "Weird Event!", "rate_limited") },
			func() float64 { return testutil.ToFloat64(metricRejects.WithLabelValues("rate_limited")) }, 1},
		{"provider module name as method", func() { Audit(req, "auth_failed", "invalid_token", zap.String("provider", "apigw_jwt")) },
			func() float64 { return testutil.ToFloat64(metricAuth.WithLabelValues("jwt", "invalid_token")) }, 1},
		{"store outage in auth", func() { Audit(req, "auth_unavailable", "service_unavailable", zap.String("provider", "apigw_api_key")) },
			func() float64 {
				return testutil.ToFloat64(metricAuth.WithLabelValues("api_key", "service_unavailable"))
			}, 1},
		{"limiter take", func() { c := newLimitCounters("z"); c.observe(false, errors.New("down")) },
			func() float64 { return testutil.ToFloat64(metricLimiter.WithLabelValues("z", "error")) }, 1},
		{"login success", func() { Audit(req, "login_succeeded", "") },
			func() float64 { return testutil.ToFloat64(metricAuth.WithLabelValues("login", "success")) }, 1},
		{"non-reject event not a reject", func() { Audit(req, "logout", "") },
			func() float64 { return testutil.ToFloat64(metricRejects.WithLabelValues("other")) }, 0},
		{"limiter", func() { c := newLimitCounters("per_key"); c.observe(false, nil) },
			func() float64 { return testutil.ToFloat64(metricLimiter.WithLabelValues("per_key", "denied")) }, 1},
		{"store op error", func() { storeObserver{}.ObserveOp("redis", "get", time.Millisecond, errors.New("down")) },
			func() float64 { return testutil.ToFloat64(metricStoreErrors.WithLabelValues("redis", "get")) }, 1},
		{"store health", func() { storeObserver{}.ObserveHealth("redis", false) },
			func() float64 { return testutil.ToFloat64(metricStoreUp.WithLabelValues("redis")) }, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.metric()
			tc.do()
			got := tc.metric()
			if tc.name == "store health" {
				if got != tc.want {
					t.Fatalf("gauge = %v, want %v", got, tc.want)
				}
				return
			}
			if got-before != tc.want {
				t.Fatalf("delta = %v, want %v", got-before, tc.want)
			}
		})
	}
}

// BenchmarkMetricChild compares a child looked up by its labels per
// request (what the handlers did before) with one bound at provision.
func BenchmarkMetricChild(b *testing.B) {
	b.Run("lookup_per_request", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			metricLimiter.WithLabelValues("per_key", "allowed").Inc()
		}
	})
	b.Run("bound_at_provision", func(b *testing.B) {
		c := newLimitCounters("per_key")
		b.ReportAllocs()
		for b.Loop() {
			c.observe(true, nil)
		}
	})
	b.Run("auth_success_lookup_per_request", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			metricAuth.WithLabelValues("api_key", "success").Inc()
		}
	})
	b.Run("auth_success_bound", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			observeAuthSuccess("api_key")
		}
	})
}

func BenchmarkAuditMetrics(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		observeAudit("auth_failed", "invalid_api_key", "api_key", nil)
	}
}
