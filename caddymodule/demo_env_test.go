package caddymodule

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apigw/caddy-apigw/internal/testutil"
)

// TestDemoEnvUpstreamPortMovesOIDC: with only APIGW_UPSTREAM_PORT moved
// (APIGW_JWKS_URL and APIGW_JWT_ISSUER unset), Caddyfile.example's /oidc
// route fetches the JWKS from, and expects the issuer of, the upstream port
// actually in use, so a token signed by examples/demo-keys is accepted.
func TestDemoEnvUpstreamPortMovesOIDC(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts the gateway")
	}
	c := testutil.StartCaddy(t, testutil.Options{UpstreamPort: -1})
	for _, kv := range c.Env {
		if strings.HasPrefix(kv, "APIGW_JWKS_URL=") || strings.HasPrefix(kv, "APIGW_JWT_ISSUER=") {
			t.Fatalf("test setup: %s is set; the defaults must be exercised", kv)
		}
	}
	if c.UpstreamPort == 9000 {
		t.Skip("free port happened to be the default 9000; nothing moved")
	}
	issuer := "http://127.0.0.1:" + strconv.Itoa(c.UpstreamPort)
	claims := map[string]any{"sub": "moved-user", "exp": time.Now().Add(10 * time.Minute).Unix(), "iss": issuer, "aud": "caddy-apigw-demo"}
	for _, tc := range []struct{ alg, key, kid string }{
		{"ES256", "oidc-es256.key.pem", "demo-es256"},
		{"RS256", "oidc-rs256.key.pem", "demo-rs256"},
	} {
		t.Run(tc.alg, func(t *testing.T) {
			tok := mintJose(t, tc.alg, filepath.Join(demoKeysDir, tc.key), claims, map[string]any{"kid": tc.kid})
			resp, body := get(t, c.URL("/oidc/x"), map[string]string{"Authorization": "Bearer " + tok})
			expectUpstream(t, resp, body, "moved-user", "jwt")
		})
	}
	t.Run("issuer of the default port refused", func(t *testing.T) {
		wrong := map[string]any{"sub": "a", "exp": claims["exp"], "iss": "http://127.0.0.1:9000", "aud": "caddy-apigw-demo"}
		tok := mintJose(t, "ES256", filepath.Join(demoKeysDir, "oidc-es256.key.pem"), wrong, map[string]any{"kid": "demo-es256"})
		resp, body := get(t, c.URL("/oidc/x"), map[string]string{"Authorization": "Bearer " + tok})
		expectProblem(t, resp, body, 401, "invalid_token")
	})
}
