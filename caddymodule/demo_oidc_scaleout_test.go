package caddymodule_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/apigw/caddy-apigw/internal/testutil"
)

// TestDemoOIDCTwoInstancesOneRedis: two gateways share one real Redis; a
// session from an OIDC login on one works on the other, a login state is
// single use across both, and logout on one ends the session on both.
func TestDemoOIDCTwoInstancesOneRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts Redis, oidc-provider and two gateways")
	}
	rs := testutil.StartRedis(t)
	p1, p2 := testutil.FreePort(t), testutil.FreePort(t)
	gw1, gw2 := "http://127.0.0.1:"+strconv.Itoa(p1), "http://127.0.0.1:"+strconv.Itoa(p2)
	op := testutil.StartOIDCProvider(t, 0, oxClientID, oxClientSecret,
		[]string{gw1 + "/auth/callback", gw2 + "/auth/callback"}, []string{gw1 + "/", gw2 + "/"})
	env := []string{"APIGW_STORE=" + rs.URL(0), "APIGW_OIDC_ISSUER=" + op.Issuer, "APIGW_OIDC_CLIENT_SECRET=" + oxClientSecret}
	c1 := testutil.StartCaddy(t, testutil.Options{HTTPPort: p1, Env: env})
	c2 := testutil.StartCaddy(t, testutil.Options{HTTPPort: p2, Env: env})

	b := newOXBrowser(t)
	cb := b.atProvider(c1, b.startLogin(c1, "/app/here"))
	if r := b.do("GET", cb); r.status != http.StatusFound || r.header.Get("Location") != "/app/here" {
		t.Fatalf("callback on instance 1: %d %s", r.status, r.body)
	}
	token := b.cookie(c1, "apigw_session")

	// the cookie jar sends the 127.0.0.1 cookie to both ports
	r := b.do("GET", c2.URL("/app/here"))
	if r.status != 200 || !strings.Contains(string(r.body), `"x-auth-user":"alice"`) {
		t.Fatalf("instance 2 with the session from instance 1: %d %s", r.status, r.body)
	}
	// the used state is refused on the other instance too
	sxExpectProblem(t, b.do("GET", strings.Replace(cb, gw1, gw2, 1)), 401, "invalid_credentials")

	if r := b.do("POST", c2.URL("/auth/logout"), "Origin", gw2); r.status != 200 {
		t.Fatalf("logout on instance 2: %d %s", r.status, r.body)
	}
	sxExpectProblem(t, sxDo(t, "GET", c1.URL("/app/here"), "", "Cookie", "apigw_session="+token), 401, "invalid_session")
}
