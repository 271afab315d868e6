package caddymodule

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/apigw/caddy-apigw/problem"
	"github.com/apigw/caddy-apigw/store"
)

// The gateway's Prometheus metrics. They live in Caddy's registry of the
// running config (ctx.GetMetricsRegistry()), so Caddy's own `metrics`
// handler and the admin endpoint's /metrics serve them. Labels are low
// cardinality by construction: methods, codes, zones and store commands
// come from the configuration or fixed lists, never from user ids or
// request input.
var (
	metricAuth = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "apigw",
		Name:      "auth_total",
		Help:      "Authentication outcomes by method (api_key, jwt, session, signature, login; none if unknown) and code (ok on success, else the problem code).",
	}, []string{"method", "code"})
	metricRejects = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "apigw",
		Name:      "rejects_total",
		Help:      "Requests the gateway rejected, by audit event and problem code.",
	}, []string{"event", "code"})
	metricLimiter = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "apigw",
		Name:      "limiter_decisions_total",
		Help:      "Rate limiter decisions by zone and outcome (allowed, denied, error).",
	}, []string{"zone", "outcome"})
	metricValidation = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "apigw",
		Name:      "validation_rejects_total",
		Help:      "Requests rejected by validation, by code (validation_failed, payload_too_large, unsupported_media_type).",
	}, []string{"code"})
	metricScrubbed = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "apigw",
		Name:      "upstream_errors_scrubbed_total",
		Help:      "Upstream error responses replaced by problem JSON.",
	})
	metricStoreDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "apigw",
		Name:      "store_operation_duration_seconds",
		Help:      "Latency of Redis store operations by operation (Redis command name, or pipeline); the memory store is not timed (nanoseconds, see the benchmarks).",
		Buckets:   []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
	}, []string{"backend", "op"})
	metricStoreErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "apigw",
		Name:      "store_errors_total",
		Help:      "Failed store operations by backend and operation.",
	}, []string{"backend", "op"})
	metricStoreUp = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "apigw",
		Name:      "store_up",
		Help:      "1 while the store answers, 0 during an outage.",
	}, []string{"backend"})
)

var allMetrics = []prometheus.Collector{
	metricAuth, metricRejects, metricLimiter, metricValidation, metricScrubbed,
	metricStoreDuration, metricStoreErrors, metricStoreUp,
}

// registerMetrics adds the gateway's collectors to the config's registry.
// Each config has a fresh registry; the collectors (and their counts) are
// process-wide, so counts survive reloads like Caddy's own metrics do.
func registerMetrics(ctx caddy.Context) error {
	reg := ctx.GetMetricsRegistry()
	if reg == nil {
		return nil
	}
	for _, c := range allMetrics {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				continue
			}
			return fmt.Errorf("registering apigw metrics: %w", err)
		}
	}
	return nil
}

// ObserveLimitTake counts the outcome of one limiter Take: allowed,
// denied, or error when err is not nil.
func ObserveLimitTake(zone string, allowed bool, err error) {
	switch {
	case err != nil:
		ObserveLimit(zone, "error")
	case allowed:
		ObserveLimit(zone, "allowed")
	default:
		ObserveLimit(zone, "denied")
	}
}

// ObserveLimit counts one rate limiter decision. The limiter calls it for
// every request it checks: zone is the configured zone name, outcome one
// of "allowed", "denied" or "error" (store unavailable).
func ObserveLimit(zone, outcome string) {
	metricLimiter.WithLabelValues(zone, outcome).Inc()
}

// observeAuthSuccess counts a successful authentication (PublishIdentity).
func observeAuthSuccess(method string) {
	if method == "" {
		method = "none"
	}
	metricAuth.WithLabelValues(method, "ok").Inc()
}

// authCodes are the problem codes that are authentication outcomes.
var authCodes = map[string]bool{
	problem.CodeMissingCredentials: true,
	problem.CodeInvalidAPIKey:      true,
	problem.CodeInvalidToken:       true,
	problem.CodeTokenExpired:       true,
	problem.CodeTokenRevoked:       true,
	problem.CodeInvalidSession:     true,
	problem.CodeInvalidCredentials: true,
	problem.CodeInvalidSignature:   true,
	problem.CodeReplayedRequest:    true,
	problem.CodeCSRFRejected:       true,
	problem.CodeInsufficientScope:  true,
	problem.CodeInvalidDPoPProof:   true,
}

// validationCodes are the problem codes of validation rejects.
var validationCodes = map[string]bool{
	problem.CodeValidationFailed:     true,
	problem.CodePayloadTooLarge:      true,
	problem.CodeUnsupportedMediaType: true,
}

// knownCodes bounds the code label to the documented codes.
func knownCode(code string) string {
	switch {
	case authCodes[code], validationCodes[code]:
		return code
	}
	switch code {
	case problem.CodeRateLimited, problem.CodeUpstreamError, problem.CodeServiceUnavailable,
		problem.CodeInternalError, problem.CodeNotFound, problem.CodeMethodNotAllowed, problem.CodeBadRequest:
		return code
	}
	return "other"
}

// knownEvent bounds the event label: events are constants in our code,
// but a typo must not create unbounded series either.
func knownEvent(event string) string {
	if len(event) > 40 {
		return "other"
	}
	for i := 0; i < len(event); i++ {
		c := event[i]
		if (c < 'a' || c > 'z') && c != '_' {
			return "other"
		}
	}
	return event
}

// methodOfCode is the auth method a failure code implies, for audit
// entries that name no provider.
var methodOfCode = map[string]string{
	problem.CodeInvalidAPIKey:      "api_key",
	problem.CodeInvalidToken:       "jwt",
	problem.CodeTokenExpired:       "jwt",
	problem.CodeTokenRevoked:       "jwt",
	problem.CodeInvalidSession:     "session",
	problem.CodeCSRFRejected:       "session",
	problem.CodeInvalidCredentials: "login",
	problem.CodeInvalidSignature:   "signature",
	problem.CodeReplayedRequest:    "signature",
	problem.CodeInvalidDPoPProof:   "dpop",
}

// knownMethod bounds the auth method label; provider module names
// (apigw_api_key) count as their method (api_key).
func knownMethod(m string) string {
	m = strings.TrimPrefix(m, "apigw_")
	switch m {
	case "api_key", "jwt", "session", "signature", "http_signature", "login", "basic", "oidc", "none",
		"dpop", "mtls", "introspection":
		return m
	case "":
		return "none"
	}
	return "other"
}

// observeAudit counts one audited decision (called by Audit): entries
// with a code are rejects; login_succeeded counts as a login success.
func observeAudit(event, code, method string, fields []zap.Field) {
	if code == "" {
		// not a reject: a decision such as login_succeeded or logout
		if event == "login_succeeded" {
			metricAuth.WithLabelValues("login", "ok").Inc()
		}
		return
	}
	code = knownCode(code)
	metricRejects.WithLabelValues(knownEvent(event), code).Inc()
	switch {
	case authCodes[code] || event == "auth_unavailable":
		for _, f := range fields {
			if f.Key == "auth_method" || f.Key == "provider" {
				method = f.String
			}
		}
		if method == "" {
			method = methodOfCode[code]
		}
		metricAuth.WithLabelValues(knownMethod(method), code).Inc()
	case validationCodes[code]:
		metricValidation.WithLabelValues(code).Inc()
	}
	if event == "upstream_scrubbed" {
		metricScrubbed.Inc()
	}
}

// storeObserver feeds store latencies and health into the metrics.
type storeObserver struct{}

// ObserveOp implements store.Observer.
func (storeObserver) ObserveOp(backend, op string, d time.Duration, err error) {
	metricStoreDuration.WithLabelValues(backend, op).Observe(d.Seconds())
	if err != nil {
		metricStoreErrors.WithLabelValues(backend, op).Inc()
	}
}

// ObserveHealth implements store.Observer.
func (storeObserver) ObserveHealth(backend string, up bool) {
	v := 0.0
	if up {
		v = 1
	}
	metricStoreUp.WithLabelValues(backend).Set(v)
}

var _ store.Observer = storeObserver{}
