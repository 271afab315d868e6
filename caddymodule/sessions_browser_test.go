package caddymodule_test

import (
	"encoding/json"
	"os/exec"
	"strconv"
	"testing"

	"github.com/apigw/caddy-apigw/internal/testutil"
)

// TestSessionsBrowser proves with a real headless Chromium that the
// browser stores the session cookie, sends it back, cannot read it from
// JavaScript, that a cross-site form post is refused by the CSRF defence,
// and that logout ends the session.
func TestSessionsBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts Caddy and Chromium")
	}
	if _, err := exec.LookPath("chromium"); err != nil {
		t.Fatal("chromium not found: apt-get install -y chromium (test.sh does)")
	}
	c := sxStart(t)
	raw := testutil.Node(t, "session_browser.mjs", c.URL(""), "http://127.0.0.1:"+strconv.Itoa(c.UpstreamPort))
	var got struct {
		Page struct {
			Login             int    `json:"login"`
			CookieVisibleToJS string `json:"cookieVisibleToJS"`
			Session           int    `json:"session"`
			Upstream          struct {
				Headers map[string]string `json:"headers"`
			} `json:"upstream"`
			Post int `json:"post"`
		} `json:"page"`
		Cookies []struct {
			Name        string `json:"name"`
			HTTPOnly    bool   `json:"httpOnly"`
			SameSite    string `json:"sameSite"`
			Path        string `json:"path"`
			Secure      bool   `json:"secure"`
			ValueLength int    `json:"valueLength"`
		} `json:"cookies"`
		Navigation struct {
			Headers map[string]string `json:"headers"`
		} `json:"navigation"`
		CrossSiteForm      map[string]any `json:"crossSiteForm"`
		Logout             int            `json:"logout"`
		CookiesAfterLogout []string       `json:"cookiesAfterLogout"`
		AfterLogout        map[string]any `json:"afterLogout"`
	}
	if err := json.Unmarshal([]byte(raw), &got); err != nil {
		t.Fatalf("browser output %q: %v", raw, err)
	}
	t.Logf("browser observations: %s", raw)
	if got.Page.Login != 200 || got.Page.Session != 200 || got.Page.Post != 200 {
		t.Fatalf("same-origin flow: sxLogin %d, session %d, post %d", got.Page.Login, got.Page.Session, got.Page.Post)
	}
	if got.Page.CookieVisibleToJS != "" {
		t.Fatalf("document.cookie = %q: the session cookie is readable by scripts", got.Page.CookieVisibleToJS)
	}
	if got.Page.Upstream.Headers["x-auth-user"] != "demo" {
		t.Fatalf("fetch did not send the cookie: upstream saw %v", got.Page.Upstream.Headers)
	}
	if len(got.Cookies) != 1 || got.Cookies[0].Name != "apigw_session" || !got.Cookies[0].HTTPOnly ||
		got.Cookies[0].SameSite != "Lax" || got.Cookies[0].Path != "/" || got.Cookies[0].ValueLength != 43 {
		t.Fatalf("stored cookies = %+v", got.Cookies)
	}
	if got.Navigation.Headers["x-auth-user"] != "demo" || got.Navigation.Headers["x-auth-method"] != "session" {
		t.Fatalf("navigation did not carry the session: %v", got.Navigation.Headers)
	}
	if got.CrossSiteForm["code"] != "csrf_rejected" || got.CrossSiteForm["status"] != float64(403) {
		t.Fatalf("cross-site form post: %v", got.CrossSiteForm)
	}
	if got.Logout != 204 || len(got.CookiesAfterLogout) != 0 {
		t.Fatalf("logout %d, cookies left %v", got.Logout, got.CookiesAfterLogout)
	}
	if got.AfterLogout["code"] != "missing_credentials" {
		t.Fatalf("after logout: %v", got.AfterLogout)
	}
}
