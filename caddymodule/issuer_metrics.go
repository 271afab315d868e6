// Metrics about calls the gateway makes to identity providers: JWKS
// fetches and token introspection.

package caddymodule

import "github.com/prometheus/client_golang/prometheus"

// metricJWKSFetches counts JWKS fetches by result (ok, error). It is
// registered with the request metrics by the init below.
var metricJWKSFetches = counterVec("jwks_fetches_total",
	"JWKS fetches by result (ok, error); keys stay cached while fetches fail.", "result")

// metricIntrospections counts calls to an issuer's RFC 7662
// introspection endpoint by result (active, inactive, error); cache hits
// make no call and are not counted.
var metricIntrospections = counterVec("introspection_requests_total",
	"Calls to the issuer's token introspection endpoint by result (active, inactive, error); cache hits are not calls.", "result")

// introspectionResults are the bound children of metricIntrospections.
var introspectionResults = map[string]prometheus.Counter{
	"active":   metricIntrospections.WithLabelValues("active"),
	"inactive": metricIntrospections.WithLabelValues("inactive"),
	"error":    metricIntrospections.WithLabelValues("error"),
}

// countIntrospection is the Introspector's Called hook.
func countIntrospection(result string) {
	if c, ok := introspectionResults[result]; ok {
		c.Inc()
	}
}

func init() {
	requestMetrics = append(requestMetrics, metricJWKSFetches, metricIntrospections)
}
