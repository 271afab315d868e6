package caddymodule_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/apigw/caddy-apigw/internal/testutil"
)

// TestDemoOIDCMaxPendingLogins: the demo gateway with max_pending_logins 3
// refuses a fourth unauthenticated GET /auth/login with 503
// service_unavailable and Retry-After, while finishing a login frees its
// slot for the next one.
func TestDemoOIDCMaxPendingLogins(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts Caddy and oidc-provider")
	}
	example, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), "Caddyfile.example"))
	if err != nil {
		t.Fatal(err)
	}
	const anchor = "\t\t\tclaim_metadata email\n"
	if !strings.Contains(string(example), anchor) {
		t.Fatal("Caddyfile.example: the apigw_oidc block moved; update this test")
	}
	cfg := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(cfg, []byte(strings.Replace(string(example), anchor, anchor+"\t\t\tmax_pending_logins 3\n", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	port := testutil.FreePort(t)
	gw := "http://127.0.0.1:" + strconv.Itoa(port)
	op := testutil.StartOIDCProvider(t, 0, oxClientID, oxClientSecret, []string{gw + "/auth/callback"}, []string{gw + "/"})
	c := testutil.StartCaddy(t, testutil.Options{Config: cfg, HTTPPort: port, Env: []string{
		"APIGW_OIDC_ISSUER=" + op.Issuer, "APIGW_OIDC_CLIENT_SECRET=" + oxClientSecret,
	}})

	b := newOXBrowser(t)
	auth := b.startLogin(c, "/app/pending") // one real login, then two abandoned ones
	for i := 0; i < 2; i++ {
		if r := sxDo(t, "GET", c.URL("/auth/login"), ""); r.status != http.StatusFound {
			t.Fatalf("login %d: %d %s", i+2, r.status, r.body)
		}
	}
	r := sxDo(t, "GET", c.URL("/auth/login"), "")
	sxExpectProblem(t, r, http.StatusServiceUnavailable, "service_unavailable")
	if ra, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || ra < 1 || ra > 601 {
		t.Fatalf("Retry-After = %q, want the seconds until the oldest login state expires", r.header.Get("Retry-After"))
	}
	if r.header.Get("Location") != "" || r.header.Get("Set-Cookie") != "" {
		t.Fatalf("a refused login still set a cookie or redirected: %v", r.header)
	}

	// the login in progress is untouched, and finishing it frees a slot
	if r := b.do("GET", b.atProvider(c, auth)); r.status != http.StatusFound || r.header.Get("Location") != "/app/pending" {
		t.Fatalf("callback of the login in progress: %d %s", r.status, r.body)
	}
	if r := sxDo(t, "GET", c.URL("/auth/login"), ""); r.status != http.StatusFound {
		t.Fatalf("login after one finished: %d %s", r.status, r.body)
	}
	sxExpectProblem(t, sxDo(t, "GET", c.URL("/auth/login"), ""), http.StatusServiceUnavailable, "service_unavailable")
}
