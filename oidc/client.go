package oidc

import (
	"fmt"
	"strings"
	"time"
)

// MinClientSecret is the shortest accepted client secret.
const MinClientSecret = 32

// CheckClient is the one check of a client registration at an issuer
// (apigw_oidc's and apigw_introspect's issuer, client_id and
// client_secret), used at provision (expanded: placeholders replaced)
// and by the Caddyfile parser, which leaves a value holding a placeholder
// ("{") to provision.
func CheckClient(issuer, clientID, secret string, allowInsecureLoopback, expanded bool) error {
	var missing []string
	for _, v := range [...][2]string{{issuer, "issuer"}, {clientID, "client_id"}, {secret, "client_secret"}} {
		if v[0] == "" {
			missing = append(missing, v[1])
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing %v", missing)
	}
	if expanded || !strings.Contains(issuer, "{") {
		if err := CheckIssuerURL(issuer, allowInsecureLoopback); err != nil {
			return err
		}
	}
	if (expanded || !strings.Contains(secret, "{")) && len(secret) < MinClientSecret {
		return fmt.Errorf("client_secret is shorter than %d bytes: use a long random secret from {env.…}", MinClientSecret)
	}
	return nil
}

// MaxNegativeCacheTTL bounds how long an inactive introspection answer is
// reused: a token that becomes active (or is revoked and re-issued) must
// not wait long.
const MaxNegativeCacheTTL = 5 * time.Second

// CheckIntrospection is the one check of apigw_introspect's own options
// (its client is CheckClient's): the negative cache TTL and an explicit
// introspection endpoint, which must be https like the issuer. expanded
// as for CheckClient.
func CheckIntrospection(negativeTTL time.Duration, endpoint string, allowInsecureLoopback, expanded bool) error {
	if negativeTTL > MaxNegativeCacheTTL {
		return fmt.Errorf("negative_cache_ttl must be at most %s (a revoked or new token must not wait longer)", MaxNegativeCacheTTL)
	}
	if endpoint != "" && (expanded || !strings.Contains(endpoint, "{")) {
		if err := CheckIssuerURL(endpoint, allowInsecureLoopback); err != nil {
			return fmt.Errorf("introspection_endpoint: %w", err)
		}
	}
	return nil
}
