package caddymodule_test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/apigw/caddy-apigw/internal/testutil"
)

// TestDemoOIDCBrowser runs the OIDC login once in headless Chromium
// against npm oidc-provider, through the real binary.
func TestDemoOIDCBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts Caddy, oidc-provider and Chromium")
	}
	if _, err := exec.LookPath("chromium"); err != nil {
		t.Fatal("chromium not found: apt-get install -y chromium (test.sh does)")
	}
	c, _ := oxStart(t)
	raw := testutil.Node(t, "oidc_browser.mjs", c.URL(""))
	t.Logf("browser observations: %s", raw)
	var got struct {
		FinalURL string   `json:"finalURL"`
		Hops     []string `json:"hops"`
		Upstream struct {
			URI     string            `json:"uri"`
			Headers map[string]string `json:"headers"`
		} `json:"upstream"`
		Cookies []struct {
			Name     string `json:"name"`
			HTTPOnly bool   `json:"httpOnly"`
			SameSite string `json:"sameSite"`
		} `json:"cookies"`
		CookieVisibleToJS string `json:"cookieVisibleToJS"`
		Logout            struct {
			Status int            `json:"status"`
			Body   map[string]any `json:"body"`
		} `json:"logout"`
		AfterLogout int `json:"afterLogout"`
	}
	if err := json.Unmarshal([]byte(raw), &got); err != nil {
		t.Fatalf("browser output %q: %v", raw, err)
	}
	if got.FinalURL != c.URL("/app/profile?tab=1") || got.Upstream.URI != "/app/profile?tab=1" {
		t.Fatalf("the browser ended at %q (upstream uri %q), want back on the page it asked for", got.FinalURL, got.Upstream.URI)
	}
	if got.Upstream.Headers["x-auth-user"] != "alice" || got.Upstream.Headers["x-auth-method"] != "session" {
		t.Fatalf("upstream saw %v", got.Upstream.Headers)
	}
	hops := strings.Join(got.Hops, " ")
	for _, want := range []string{"302 /app/profile", "302 /auth/login", "302 /auth/callback", "200 /app/profile"} {
		if !strings.Contains(hops, want) {
			t.Errorf("navigation hops %q lack %q", hops, want)
		}
	}
	var session bool
	for _, ck := range got.Cookies {
		if ck.Name == "apigw_session" {
			session = true
			if !ck.HTTPOnly || ck.SameSite != "Lax" {
				t.Errorf("session cookie %+v: want HttpOnly, SameSite=Lax", ck)
			}
		}
	}
	if !session {
		t.Fatal("the browser stored no session cookie")
	}
	if strings.Contains(got.CookieVisibleToJS, "apigw_session") || strings.Contains(got.CookieVisibleToJS, "apigw_oidc_login") {
		t.Fatalf("scripts can read %q", got.CookieVisibleToJS)
	}
	if got.Logout.Status != 200 || got.Logout.Body["end_session_url"] == nil {
		t.Fatalf("logout: %+v", got.Logout)
	}
	if got.AfterLogout != 401 {
		t.Fatalf("after logout /app/profile answered %d, want 401", got.AfterLogout)
	}
}
