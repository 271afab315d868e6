package caddymodule

import (
	"time"

	"go.uber.org/zap"

	"github.com/apigw/caddy-apigw/authn"
)

// jwksEvents makes a JWKS failure visible without flooding the log: one
// WARN when fetches start failing (naming the host and the error), one
// INFO when a fetch succeeds again, and a counter for every fetch.
// Requests that find no key while the host is down are not logged one by
// one (their 401s are in the access log and apigw_authentications_total).
func jwksEvents(logger *zap.Logger) authn.JWKSEvents {
	return authn.JWKSEvents{
		Fetched: func(err error) {
			result := "ok"
			if err != nil {
				result = "error"
			}
			metricJWKSFetches.WithLabelValues(result).Inc()
		},
		Failing: func(host string, err error) {
			logger.Warn("JWKS fetch failing; keeping the cached keys and retrying with backoff",
				zap.String("jwks_host", host), zap.Error(err))
		},
		Recovered: func(host string, failures int, since time.Time) {
			logger.Info("JWKS fetch recovered",
				zap.String("jwks_host", host), zap.Int("failed_fetches", failures),
				zap.Duration("failing_for", time.Since(since).Round(time.Millisecond)))
		},
	}
}
