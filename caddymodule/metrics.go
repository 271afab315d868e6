package caddymodule

import (
	"errors"
	"fmt"
	"strings"
	"sync"
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
// cardinality by construction: methods, problem codes, zones and store
// commands come from the configuration or fixed lists, never from user ids
// or request input. No label is called `code`: ours are problem codes
// (label `problem`), not HTTP statuses.
//
// The request path never looks a child up by its labels: children are
// bound once (at package init for the fixed method list, at provision for
// rate-limit zones) and only incremented per request.
var (
	metricAuth = counterVec("authentications_total",
		"Authentication outcomes by method (api_key, jwt, session, signature, login, …; other if unknown) and result (success, else the problem code).",
		"method", "result")
	metricRejects = counterVec("rejected_requests_total",
		"Requests the gateway rejected, by problem code (the code member of the problem JSON).", "problem")
	metricLimiter = counterVec("rate_limit_decisions_total",
		"Rate limiter decisions by zone and result (allowed, denied, error: the store failed).", "zone", "result")
	metricScrubbed = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "apigw",
		Name:      "upstream_errors_scrubbed_total",
		Help:      "Upstream error responses replaced by problem JSON.",
	})
	metricStoreDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "apigw",
		Name:      "store_operation_duration_seconds",
		Help:      "Latency of Redis store operations by operation (Redis command name, or pipeline). Only with a Redis store.",
		Buckets:   []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
	}, []string{"backend", "op"})
	metricStoreErrors = counterVec("store_errors_total",
		"Failed Redis store operations by operation (not NOSCRIPT retries or CLIENT SETINFO refusals). Only with a Redis store.",
		"backend", "op")
	metricStoreUp = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "apigw",
		Name:      "store_up",
		Help:      "1 while the Redis store answers, 0 during an outage. Only with a Redis store.",
	}, []string{"backend"})
)

// counterVec returns the counter family apigw_<name> with labels.
func counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "apigw", Name: name, Help: help}, labels)
}

// requestMetrics are registered in every config; storeMetrics only in a
// config whose store is Redis (the memory store has no latency worth a
// histogram, no errors and no outages).
var (
	requestMetrics = []prometheus.Collector{metricAuth, metricRejects, metricLimiter, metricScrubbed}
	storeMetrics   = []prometheus.Collector{metricStoreDuration, metricStoreErrors, metricStoreUp}
)

// registerMetrics adds the gateway's collectors to the config's registry
// (the store's only when withStore). Each config has a fresh registry; the
// collectors (and their counts) are process-wide, so counts survive
// reloads like Caddy's own metrics do.
func registerMetrics(ctx caddy.Context, withStore bool) error {
	reg := ctx.GetMetricsRegistry()
	if reg == nil {
		return nil
	}
	cs := requestMetrics
	if withStore {
		cs = append(append([]prometheus.Collector(nil), requestMetrics...), storeMetrics...)
	}
	for _, c := range cs {
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

// limitCounters are one zone's decision counters, bound at provision.
type limitCounters struct{ allowed, denied, errored prometheus.Counter }

// newLimitCounters binds the decision counters of zone.
func newLimitCounters(zone string) limitCounters {
	return limitCounters{
		allowed: metricLimiter.WithLabelValues(zone, "allowed"),
		denied:  metricLimiter.WithLabelValues(zone, "denied"),
		errored: metricLimiter.WithLabelValues(zone, "error"),
	}
}

// observe counts the outcome of one limiter Take: allowed, denied, or
// error when err is not nil.
func (c *limitCounters) observe(allowed bool, err error) {
	switch {
	case err != nil:
		c.errored.Inc()
	case allowed:
		c.allowed.Inc()
	default:
		c.denied.Inc()
	}
}

// authMethods are the values of the method label (besides "other").
var authMethods = []string{"api_key", "jwt", "session", "signature", "http_signature", "login", "basic", "oidc", "dpop", "mtls", "introspection", "none"}

// authSuccess holds the success child of every known method, bound once.
var authSuccess = func() map[string]prometheus.Counter {
	m := make(map[string]prometheus.Counter, len(authMethods)+1)
	for _, meth := range append(authMethods, "other") {
		m[meth] = metricAuth.WithLabelValues(meth, "success")
	}
	return m
}()

// observeAuthSuccess counts a successful authentication (PublishIdentity,
// the signature check, a login).
func observeAuthSuccess(method string) {
	c, ok := authSuccess[method]
	if !ok {
		c = authSuccess[knownMethod(method)]
	}
	c.Inc()
}

// counterCache caches the children of a counter family by their labels
// (bounded label sets, bound on first use instead of hashed per
// rejection).
type counterCache[K comparable] struct {
	mu sync.RWMutex
	m  map[K]prometheus.Counter
}

// get returns the child for k, binding it with bind on first use.
func (c *counterCache[K]) get(k K, bind func() prometheus.Counter) prometheus.Counter {
	c.mu.RLock()
	ctr, ok := c.m[k]
	c.mu.RUnlock()
	if ok {
		return ctr
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if ctr, ok := c.m[k]; ok {
		return ctr
	}
	if c.m == nil {
		c.m = map[K]prometheus.Counter{}
	}
	ctr = bind()
	c.m[k] = ctr
	return ctr
}

// The children of rejections: by problem, and by method and problem for
// authentication failures.
var (
	rejectCounters      counterCache[string]
	authFailureCounters counterCache[[2]string]
)

func rejectCounter(code string) prometheus.Counter {
	return rejectCounters.get(code, func() prometheus.Counter { return metricRejects.WithLabelValues(code) })
}

func authFailureCounter(method, code string) prometheus.Counter {
	return authFailureCounters.get([2]string{method, code}, func() prometheus.Counter { return metricAuth.WithLabelValues(method, code) })
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

// knownCodes bounds the code label to the documented codes.
func knownCode(code string) string {
	switch {
	case authCodes[code]:
		return code
	}
	switch code {
	case problem.CodeValidationFailed, problem.CodePayloadTooLarge, problem.CodeUnsupportedMediaType,
		problem.CodeRateLimited, problem.CodeConflict, problem.CodePreconditionFailed, problem.CodeUpstreamError, problem.CodeServiceUnavailable,
		problem.CodeInternalError, problem.CodeNotFound, problem.CodeMethodNotAllowed, problem.CodeBadRequest:
		return code
	}
	return "other"
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
	if m == "" {
		return "none"
	}
	for _, k := range authMethods {
		if m == k {
			return m
		}
	}
	return "other"
}

// observeAudit counts one audited decision (called by Audit): entries
// with a code are rejects; login_succeeded counts as a login success.
func observeAudit(event, code, method string, fields []zap.Field) {
	if code == "" {
		// not a reject: a decision such as login_succeeded or logout
		if event == "login_succeeded" {
			observeAuthSuccess("login")
		}
		return
	}
	code = knownCode(code)
	rejectCounter(code).Inc()
	if authCodes[code] || event == "auth_unavailable" {
		for _, f := range fields {
			if f.Key == "auth_method" || f.Key == "provider" {
				method = f.String
			}
		}
		if method == "" {
			method = methodOfCode[code]
		}
		authFailureCounter(knownMethod(method), code).Inc()
	}
	if event == "upstream_scrubbed" {
		metricScrubbed.Inc()
	}
}

// storeObserver feeds store latencies and health into the metrics.
type storeObserver struct{}

// ObserveOp implements store.Observer. It runs per store operation; the
// label lookup here is against a Redis round trip (~100 µs), so it is left
// per call.
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
