package caddymodule_test

// These tests run the real demo (Caddyfile.example), which also uses the
// directives of the other branches (apigw_jwt, apigw_api_key,
// apigw_rate_limit, apigw_validate, ...): they pass once those are merged.

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apigw/caddy-apigw/hmacsig"
	"github.com/apigw/caddy-apigw/internal/testutil"
)

const (
	sxDemoJWTSecret     = "demo-authz-test-jwt-secret-0123456789abcdef"
	sxDemoSigningSecret = "demo-authz-test-signing-secret-0123456789ab"
)

func sxStartDemo(t *testing.T) *testutil.Caddy {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: starts Caddy")
	}
	return testutil.StartCaddy(t, testutil.Options{Env: []string{"JWT_SECRET=" + sxDemoJWTSecret, "SIGNING_SECRET=" + sxDemoSigningSecret}})
}

func sxMintHS256(t *testing.T, claims string) string {
	t.Helper()
	return testutil.Node(t, "mint.mjs", "HS256", sxDemoJWTSecret, claims)
}

func TestDemoJWTAdminScope(t *testing.T) {
	c := sxStartDemo(t)
	exp := strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)
	admin := sxMintHS256(t, `{"sub":"alice","scope":"read admin","exp":`+exp+`}`)
	reader := sxMintHS256(t, `{"sub":"bob","scope":"read","exp":`+exp+`}`)
	arrayScope := sxMintHS256(t, `{"sub":"carol","scope":["admin"],"exp":`+exp+`}`)

	for _, tok := range []string{admin, arrayScope} {
		r := sxDo(t, "GET", c.URL("/jwt/admin/stats"), "", "Authorization", "Bearer "+tok)
		if r.status != http.StatusOK {
			t.Fatalf("admin token: %d %s", r.status, r.body)
		}
	}
	// the admin area is /jwt/admin itself too, not only what lies below it
	for _, path := range []string{"/jwt/admin/stats", "/jwt/admin", "/jwt/admin/"} {
		t.Run("reader "+path, func(t *testing.T) {
			r := sxDo(t, "GET", c.URL(path), "", "Authorization", "Bearer "+reader)
			sxExpectProblem(t, r, http.StatusForbidden, "insufficient_scope")
			if got := r.header.Get("WWW-Authenticate"); got != `Bearer error="insufficient_scope", scope="admin"` {
				t.Fatalf("WWW-Authenticate = %q", got)
			}
		})
	}
	if r := sxDo(t, "GET", c.URL("/jwt/other"), "", "Authorization", "Bearer "+reader); r.status != http.StatusOK {
		t.Fatalf("/jwt/* with a read token: %d %s", r.status, r.body)
	}
	if r := sxDo(t, "GET", c.URL("/jwt/admin/stats"), ""); r.status != http.StatusUnauthorized {
		t.Fatalf("no token: %d %s", r.status, r.body)
	}
}

func TestDemoSessionFlow(t *testing.T) {
	c := sxStartDemo(t)
	token, _ := sxLogin(t, c, "demo", "demo-password")
	ck := "apigw_session=" + token
	site := "http://127.0.0.1:" + strconv.Itoa(c.HTTPPort)
	r := sxDo(t, "GET", c.URL("/session/me"), "", "Cookie", ck)
	if r.status != 200 || r.json["headers"].(map[string]any)["x-auth-user"] != "demo" || r.json["headers"].(map[string]any)["cookie"] != "" {
		t.Fatalf("session route: %d %s", r.status, r.body)
	}
	sxExpectProblem(t, sxDo(t, "POST", c.URL("/session/items"), "{}", "Cookie", ck, "Origin", "https://evil.example"), 403, "csrf_rejected")
	if r := sxDo(t, "POST", c.URL("/session/items"), "{}", "Cookie", ck, "Origin", site, "Content-Type", "application/json"); r.status != 200 {
		t.Fatalf("same-origin POST: %d %s", r.status, r.body)
	}
	if r := sxDo(t, "POST", c.URL("/logout"), "", "Cookie", ck); r.status != 204 {
		t.Fatalf("logout: %d %s", r.status, r.body)
	}
	sxExpectProblem(t, sxDo(t, "GET", c.URL("/session/me"), "", "Cookie", ck), 401, "invalid_session")
	sxExpectProblem(t, sxDo(t, "POST", c.URL("/login"), sxLoginJSON("ghost", "x"), "Content-Type", "application/json"), 401, "invalid_credentials")
}

func TestDemoSignedRequests(t *testing.T) {
	c := sxStartDemo(t)
	body := `{"amount":5}`
	sig := hmacsig.Sign([]byte(sxDemoSigningSecret), time.Now().Unix(), "POST", "/signed/pay", []byte(body))
	r := sxDo(t, "POST", c.URL("/signed/pay"), body, "X-Signature", sig, "Content-Type", "application/json")
	if r.status != 200 || !strings.Contains(string(r.body), `"amount":5`) {
		t.Fatalf("signed: %d %s", r.status, r.body)
	}
	sxExpectProblem(t, sxDo(t, "POST", c.URL("/signed/pay"), body, "X-Signature", sig), 401, "replayed_request")
	old := hmacsig.Sign([]byte(sxDemoSigningSecret), time.Now().Unix()-301, "POST", "/signed/pay", []byte(body))
	sxExpectProblem(t, sxDo(t, "POST", c.URL("/signed/pay"), body, "X-Signature", old), 401, "invalid_signature")
}

// DESIGN.md: the upstream never receives the client's API key, cookie,
// token or signature, on any route: a browser also sends its session
// cookie to /open/*, and a client may send credentials no route checks.
func TestDemoUpstreamNeverSeesCredentials(t *testing.T) {
	c := sxStartDemo(t)
	token, _ := sxLogin(t, c, "demo", "demo-password")
	exp := strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)
	bearer := "Bearer " + sxMintHS256(t, `{"sub":"alice","exp":`+exp+`}`)
	for _, tc := range []struct {
		path, cookie, wantCookie, wantUser string
	}{
		{"/open/a", "apigw_session=" + token + "; theme=dark", "theme=dark", ""},
		{"/open/b", "theme=dark; apigw_session=" + token, "theme=dark", ""},
		{"/open/c", "a=1; apigw_session=" + token + "; b=2", "a=1; b=2", ""},
		{"/open/d", "apigw_session=" + token, "", ""},
		// spellings the session check accepts (blanks around the name):
		// the demo's old header_up regexp let these through
		{"/open/e", "apigw_session =" + token + "; theme=dark", "theme=dark", ""},
		{"/open/f", "a=1;\tapigw_session\t=\t" + token + " ;b=2", "a=1; b=2", ""},
		{"/open/g", "apigw_oidc_login=state; theme=dark", "theme=dark", ""},
		{"/key/a", "apigw_session=" + token, "", "demo-user"},
		{"/jwt/a", "apigw_session=" + token + "; theme=dark", "theme=dark", "alice"},
		{"/session/a", "apigw_session=" + token + "; theme=dark", "theme=dark", "demo"},
		{"/users", "apigw_session=" + token, "", ""},
		{"/signed/a", "apigw_session=" + token, "", ""},
	} {
		t.Run(tc.path, func(t *testing.T) {
			sig := hmacsig.Sign([]byte(sxDemoSigningSecret), time.Now().Unix(), "GET", tc.path, nil)
			r := sxDo(t, "GET", c.URL(tc.path), "", "Cookie", tc.cookie, "Authorization", bearer,
				"X-API-Key", "demo-key-1", "X-Signature", sig)
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			h, _ := r.json["headers"].(map[string]any)
			if h["cookie"] != tc.wantCookie || h["x-auth-user"] != tc.wantUser ||
				h["x-api-key"] != "" || h["authorization"] != "" || h["x-signature"] != "" {
				t.Fatalf("upstream saw %v", h)
			}
		})
	}
}
