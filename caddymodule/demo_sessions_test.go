package caddymodule_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apigw/caddy-apigw/hmacsig"
	"github.com/apigw/caddy-apigw/internal/testutil"
	"github.com/apigw/caddy-apigw/sessions"
)

// sxConfig is the test gateway: the demo's session, sxLogin, logout
// and signed routes with this branch's directives only.
func sxConfig() string {
	return filepath.Join(testutil.RepoRoot(), "caddymodule", "testdata", "sessions.Caddyfile")
}

const sxSigningSecret = "test-signing-secret-0123456789abcdef-xyz"

var sxClient = &http.Client{
	Timeout:       30 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

type sxResult struct {
	status int
	header http.Header
	body   []byte
	json   map[string]any
}

func (r sxResult) str(key string) string {
	s, _ := r.json[key].(string)
	return s
}

func sxDo(t *testing.T, method, url string, body string, hdr ...string) sxResult {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := sxClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	res := sxResult{status: resp.StatusCode, header: resp.Header, body: b}
	_ = json.Unmarshal(b, &res.json)
	return res
}

// sxExpectProblem checks a problem response's status and code.
func sxExpectProblem(t *testing.T, r sxResult, status int, code string) {
	t.Helper()
	if r.status != status || r.str("code") != code {
		t.Fatalf("got %d %s, want %d with code %q", r.status, r.body, status, code)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q, want application/problem+json", ct)
	}
}

func sxLoginJSON(user, pass string) string {
	b, _ := json.Marshal(map[string]string{"username": user, "password": pass})
	return string(b)
}

// sxLogin logs in and returns the session cookie's value.
func sxLogin(t *testing.T, c *testutil.Caddy, user, pass string, hdr ...string) (string, sxResult) {
	t.Helper()
	r := sxDo(t, "POST", c.URL("/login"), sxLoginJSON(user, pass), append([]string{"Content-Type", "application/json"}, hdr...)...)
	if r.status != 200 {
		t.Fatalf("login %s: %d %s", user, r.status, r.body)
	}
	for _, sc := range r.header.Values("Set-Cookie") {
		if ck, err := http.ParseSetCookie(sc); err == nil && ck.Name == "apigw_session" && ck.Value != "" {
			return ck.Value, r
		}
	}
	t.Fatalf("login set no session cookie: %q", r.header.Values("Set-Cookie"))
	return "", r
}

func sxStart(t *testing.T, env ...string) *testutil.Caddy {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: starts Caddy")
	}
	return testutil.StartCaddy(t, testutil.Options{Config: sxConfig(), Env: append([]string{"SIGNING_SECRET=" + sxSigningSecret}, env...)})
}

func TestSessionsLoginSessionLogout(t *testing.T) {
	c := sxStart(t)
	url := c.URL

	token, lr := sxLogin(t, c, "demo", "demo-password")
	t.Run("login response", func(t *testing.T) {
		if !sessions.WellFormed(token) {
			t.Fatalf("token %q is not a 256-bit base64url token", token)
		}
		sc := lr.header.Get("Set-Cookie")
		for _, want := range []string{"HttpOnly", "SameSite=Lax", "Path=/"} {
			if !strings.Contains(sc, want) {
				t.Errorf("Set-Cookie %q lacks %s", sc, want)
			}
		}
		if strings.Contains(sc, "Secure") || strings.Contains(sc, "Domain") {
			t.Errorf("Set-Cookie %q over plain HTTP has Secure or Domain", sc)
		}
		if lr.str("user") != "demo" || lr.str("session_id") != sessions.Handle(token) || lr.str("csrf_token") != sessions.CSRFToken(token) {
			t.Errorf("login body = %s", lr.body)
		}
		if strings.Contains(string(lr.body), token) {
			t.Error("login body contains the session token")
		}
		if lr.header.Get("Cache-Control") != "no-store" {
			t.Errorf("Cache-Control = %q", lr.header.Get("Cache-Control"))
		}
	})

	t.Run("session route and upstream headers", func(t *testing.T) {
		r := sxDo(t, "GET", url("/session/whoami"), "", "Cookie", "theme=dark; apigw_session="+token+"; lang=en", "X-Auth-User", "root")
		if r.status != 200 {
			t.Fatalf("GET /session: %d %s", r.status, r.body)
		}
		h := r.json["headers"].(map[string]any)
		if h["x-auth-user"] != "demo" || h["x-auth-method"] != "session" {
			t.Fatalf("upstream identity headers = %v", h)
		}
		if h["cookie"] != "theme=dark; lang=en" {
			t.Fatalf("upstream Cookie = %q, want the other cookies only", h["cookie"])
		}
	})

	t.Run("no cookie", func(t *testing.T) {
		r := sxDo(t, "GET", url("/session/whoami"), "")
		sxExpectProblem(t, r, 401, "missing_credentials")
		if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Cookie ") {
			t.Errorf("WWW-Authenticate = %q", r.header.Get("WWW-Authenticate"))
		}
	})
	for _, garbage := range []string{"x", strings.Repeat("A", 43), "%00%ff", strings.Repeat("z", 5000), sessions.Handle(token)} {
		t.Run("garbage cookie "+strconv.Itoa(len(garbage)), func(t *testing.T) {
			sxExpectProblem(t, sxDo(t, "GET", url("/session/whoami"), "", "Cookie", "apigw_session="+garbage), 401, "invalid_session")
		})
	}

	t.Run("logout then replay", func(t *testing.T) {
		r := sxDo(t, "POST", url("/logout"), "", "Cookie", "apigw_session="+token)
		if r.status != 204 {
			t.Fatalf("logout: %d %s", r.status, r.body)
		}
		sc := r.header.Get("Set-Cookie")
		if !strings.HasPrefix(sc, "apigw_session=;") || !strings.Contains(sc, "Max-Age=0") {
			t.Fatalf("logout Set-Cookie = %q, want the cookie cleared", sc)
		}
		sxExpectProblem(t, sxDo(t, "GET", url("/session/whoami"), "", "Cookie", "apigw_session="+token), 401, "invalid_session")
		sxExpectProblem(t, sxDo(t, "POST", url("/logout"), "", "Cookie", "apigw_session="+token), 401, "invalid_session")
		sxExpectProblem(t, sxDo(t, "POST", url("/logout"), ""), 401, "missing_credentials")
		sxExpectProblem(t, sxDo(t, "GET", url("/logout"), ""), 405, "method_not_allowed")
	})

	t.Run("nothing secret in the log", func(t *testing.T) {
		log := c.Log.String()
		for _, secret := range []string{token, "demo-password", sessions.CSRFToken(token)} {
			if strings.Contains(log, secret) {
				t.Fatalf("the log contains a secret (%d chars)", len(secret))
			}
		}
	})
}

func TestSessionsFixation(t *testing.T) {
	c := sxStart(t)
	// The attacker's own valid session, planted in the victim's browser.
	planted, _ := sxLogin(t, c, "demo", "demo-password")
	for _, tc := range []struct{ name, cookie string }{
		{"planted valid session", planted},
		{"planted unknown token", strings.Repeat("B", 43)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fresh, _ := sxLogin(t, c, "admin", "admin-password", "Cookie", "apigw_session="+tc.cookie)
			if fresh == tc.cookie {
				t.Fatal("login kept the planted session id")
			}
			sxExpectProblem(t, sxDo(t, "GET", c.URL("/session/x"), "", "Cookie", "apigw_session="+tc.cookie), 401, "invalid_session")
			r := sxDo(t, "GET", c.URL("/session/x"), "", "Cookie", "apigw_session="+fresh)
			if r.status != 200 || r.json["headers"].(map[string]any)["x-auth-user"] != "admin" {
				t.Fatalf("fresh session: %d %s", r.status, r.body)
			}
		})
	}
}

func TestSessionsBadLogins(t *testing.T) {
	c := sxStart(t)
	u := c.URL("/login")
	jsonCT := []string{"Content-Type", "application/json"}

	unknown := sxDo(t, "POST", u, sxLoginJSON("nobody", "demo-password"), jsonCT...)
	wrong := sxDo(t, "POST", u, sxLoginJSON("demo", "wrong-password"), jsonCT...)
	sxExpectProblem(t, unknown, 401, "invalid_credentials")
	sxExpectProblem(t, wrong, 401, "invalid_credentials")
	if unknown.str("detail") != wrong.str("detail") || unknown.header.Get("WWW-Authenticate") != wrong.header.Get("WWW-Authenticate") ||
		len(unknown.body) != len(wrong.body) || unknown.header.Get("Set-Cookie") != "" {
		t.Fatalf("unknown user and wrong password answered differently:\n%s\n%s", unknown.body, wrong.body)
	}

	for _, tc := range []struct {
		name, method, ct, body string
		status                 int
		code, detail           string
	}{
		{"form login", "POST", "application/x-www-form-urlencoded", "username=demo&password=demo-password", 200, "", ""},
		{"json with charset", "POST", "application/json; charset=utf-8", sxLoginJSON("demo", "demo-password"), 200, "", ""},
		{"malformed json", "POST", "application/json", `{"username": "demo", "password": `, 400, "bad_request", "truncated"},
		{"syntax error", "POST", "application/json", `{"username" "demo"}`, 400, "bad_request", "syntax error at byte"},
		{"not an object", "POST", "application/json", `["demo"]`, 400, "bad_request", "JSON object"},
		{"number password", "POST", "application/json", `{"username":"demo","password":12}`, 400, "validation_failed", "incomplete or invalid"},
		{"missing password", "POST", "application/json", `{"username":"demo"}`, 400, "validation_failed", "incomplete or invalid"},
		{"empty body", "POST", "application/json", "", 400, "bad_request", "empty"},
		{"trailing data", "POST", "application/json", sxLoginJSON("demo", "demo-password") + "{}", 400, "bad_request", "more than one"},
		{"bad form", "POST", "application/x-www-form-urlencoded", "username=%zz&password=x", 400, "bad_request", "form"},
		{"repeated form field", "POST", "application/x-www-form-urlencoded", "username=demo&username=admin&password=x", 400, "validation_failed", "incomplete or invalid"},
		{"wrong content type", "POST", "text/plain", "demo:demo-password", 415, "unsupported_media_type", ""},
		{"no content type", "POST", "", sxLoginJSON("demo", "demo-password"), 415, "unsupported_media_type", ""},
		{"latin1 charset", "POST", "application/json; charset=latin1", sxLoginJSON("demo", "demo-password"), 415, "unsupported_media_type", ""},
		{"too large", "POST", "application/json", `{"username":"demo","password":"` + strings.Repeat("x", 17<<10) + `"}`, 413, "payload_too_large", ""},
		{"long password", "POST", "application/json", sxLoginJSON("demo", strings.Repeat("p", 2000)), 400, "validation_failed", ""},
		{"GET", "GET", "", "", 405, "method_not_allowed", ""},
		{"cross-site login form (login CSRF)", "POST", "application/x-www-form-urlencoded", "username=demo&password=demo-password", 403, "csrf_rejected", "another site"},
		{"foreign Origin", "POST", "application/json", sxLoginJSON("demo", "demo-password"), 403, "csrf_rejected", "Origin"},
		{"same-site page", "POST", "application/json", sxLoginJSON("demo", "demo-password"), 200, "", ""},
		{"trusted cross-site origin", "POST", "application/json", sxLoginJSON("demo", "demo-password"), 200, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hdr []string
			if tc.ct != "" {
				hdr = []string{"Content-Type", tc.ct}
			}
			switch tc.name {
			case "cross-site login form (login CSRF)":
				hdr = append(hdr, "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example")
			case "foreign Origin":
				hdr = append(hdr, "Origin", "https://evil.example")
			case "same-site page":
				hdr = append(hdr, "Sec-Fetch-Site", "same-site", "Origin", "http://127.0.0.1:1")
			case "trusted cross-site origin":
				hdr = append(hdr, "Sec-Fetch-Site", "cross-site", "Origin", "https://app.example.com")
			}
			r := sxDo(t, tc.method, u, tc.body, hdr...)
			if tc.status == 200 {
				if r.status != 200 || r.str("user") != "demo" {
					t.Fatalf("got %d %s", r.status, r.body)
				}
				return
			}
			sxExpectProblem(t, r, tc.status, tc.code)
			if !strings.Contains(r.str("detail"), tc.detail) {
				t.Fatalf("detail %q lacks %q", r.str("detail"), tc.detail)
			}
			if strings.Contains(string(r.body), "demo-password") {
				t.Fatal("problem echoes the password")
			}
		})
	}
	t.Run("five bad logins stay 401", func(t *testing.T) {
		// The 429 after five failures comes from apigw_rate_limit in the demo.
		for i := 0; i < 5; i++ {
			sxExpectProblem(t, sxDo(t, "POST", u, sxLoginJSON("demo", "guess-"+strconv.Itoa(i)), jsonCT...), 401, "invalid_credentials")
		}
	})
	// a password typed into the username field must not be logged either
	sxExpectProblem(t, sxDo(t, "POST", u, sxLoginJSON("Tr0ub4dor&3-in-user-field", "x"), jsonCT...), 401, "invalid_credentials")
	for _, secret := range []string{"wrong-password", "guess-1", "Tr0ub4dor&3-in-user-field"} {
		if strings.Contains(c.Log.String(), secret) {
			t.Fatalf("%q reached the log", secret)
		}
	}
	if !strings.Contains(c.Log.String(), `"login_failed"`) {
		t.Fatal("failed logins are not audited")
	}
}

func TestSessionsCSRF(t *testing.T) {
	c := sxStart(t)
	token, _ := sxLogin(t, c, "demo", "demo-password")
	site := "http://127.0.0.1:" + strconv.Itoa(c.HTTPPort)
	ck := "apigw_session=" + token
	for _, tc := range []struct {
		name   string
		method string
		hdr    []string
		status int
	}{
		{"same origin", "POST", []string{"Origin", site}, 200},
		{"same origin sec-fetch", "DELETE", []string{"Sec-Fetch-Site", "same-origin", "Origin", site}, 200},
		{"same origin referer", "PUT", []string{"Referer", site + "/app/page"}, 200},
		{"trusted origin", "POST", []string{"Origin", "https://app.example.com", "Sec-Fetch-Site", "cross-site"}, 200},
		{"foreign origin", "POST", []string{"Origin", "https://evil.example"}, 403},
		{"foreign sec-fetch-site", "POST", []string{"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"}, 403},
		{"same-site sibling", "PATCH", []string{"Sec-Fetch-Site", "same-site", "Origin", "http://127.0.0.1:1"}, 403},
		{"foreign referer", "POST", []string{"Referer", "https://evil.example/" + site}, 403},
		{"null origin", "POST", []string{"Origin", "null"}, 403},
		{"no origin at all", "POST", nil, 403},
		{"safe method cross-site", "GET", []string{"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"}, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := sxDo(t, tc.method, c.URL("/session/items"), `{"a":1}`, append([]string{"Cookie", ck, "Content-Type", "application/json"}, tc.hdr...)...)
			if tc.status == 403 {
				sxExpectProblem(t, r, 403, "csrf_rejected")
				return
			}
			if r.status != tc.status {
				t.Fatalf("got %d %s, want %d", r.status, r.body, tc.status)
			}
		})
	}

	t.Run("double submit", func(t *testing.T) {
		want := sessions.CSRFToken(token)
		r := sxDo(t, "GET", c.URL("/ds/items"), "", "Cookie", ck)
		if r.status != 200 || !strings.Contains(r.header.Get("Set-Cookie"), "apigw_csrf="+want) || strings.Contains(r.header.Get("Set-Cookie"), "HttpOnly") {
			t.Fatalf("GET /ds: %d Set-Cookie %q", r.status, r.header.Get("Set-Cookie"))
		}
		sxExpectProblem(t, sxDo(t, "POST", c.URL("/ds/items"), "{}", "Cookie", ck, "Origin", site), 403, "csrf_rejected")
		sxExpectProblem(t, sxDo(t, "POST", c.URL("/ds/items"), "{}", "Cookie", ck, "X-CSRF-Token", sessions.CSRFToken("another")), 403, "csrf_rejected")
		if r := sxDo(t, "POST", c.URL("/ds/items"), "{}", "Cookie", ck+"; apigw_csrf="+want, "X-CSRF-Token", want); r.status != 200 {
			t.Fatalf("POST with token: %d %s", r.status, r.body)
		}
	})
}

func TestSessionsAuthorizeRoles(t *testing.T) {
	c := sxStart(t)
	demo, _ := sxLogin(t, c, "demo", "demo-password")
	admin, _ := sxLogin(t, c, "admin", "admin-password")
	r := sxDo(t, "GET", c.URL("/session/admin/stats"), "", "Cookie", "apigw_session="+demo)
	sxExpectProblem(t, r, 403, "insufficient_scope")
	if r.header.Get("WWW-Authenticate") != "" {
		t.Fatalf("a session identity got a Bearer challenge: %q", r.header.Get("WWW-Authenticate"))
	}
	if !strings.Contains(r.str("detail"), "role admin") {
		t.Fatalf("detail = %q", r.str("detail"))
	}
	if r := sxDo(t, "GET", c.URL("/session/admin/stats"), "", "Cookie", "apigw_session="+admin); r.status != 200 {
		t.Fatalf("admin: %d %s", r.status, r.body)
	}
	sxExpectProblem(t, sxDo(t, "GET", c.URL("/session/admin/stats"), ""), 401, "missing_credentials")
}

func TestSessionsPerUserCap(t *testing.T) {
	c := sxStart(t)
	var tokens []string
	for i := 0; i < 4; i++ { // max_per_user 3 in the test config
		tok, _ := sxLogin(t, c, "demo", "demo-password")
		tokens = append(tokens, tok)
	}
	sxExpectProblem(t, sxDo(t, "GET", c.URL("/session/x"), "", "Cookie", "apigw_session="+tokens[0]), 401, "invalid_session")
	for _, tok := range tokens[1:] {
		if r := sxDo(t, "GET", c.URL("/session/x"), "", "Cookie", "apigw_session="+tok); r.status != 200 {
			t.Fatalf("a recent session was evicted: %d", r.status)
		}
	}
}

func TestSessionsSharedRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	rd := testutil.StartRedis(t)
	a := sxStart(t, "APIGW_STORE="+rd.URL(0))
	b := sxStart(t, "APIGW_STORE="+rd.URL(0))
	token, _ := sxLogin(t, a, "demo", "demo-password")
	ck := "apigw_session=" + token
	if r := sxDo(t, "GET", b.URL("/session/x"), "", "Cookie", ck); r.status != 200 {
		t.Fatalf("session from instance A refused on B: %d %s", r.status, r.body)
	}
	if r := sxDo(t, "POST", a.URL("/logout"), "", "Cookie", ck); r.status != 204 {
		t.Fatalf("logout on A: %d", r.status)
	}
	sxExpectProblem(t, sxDo(t, "GET", b.URL("/session/x"), "", "Cookie", ck), 401, "invalid_session")

	// a signature accepted by A is a replay on B
	body := `{"n":1}`
	sig := hmacsig.Sign([]byte(sxSigningSecret), time.Now().Unix(), "POST", "/signed/x", []byte(body))
	if r := sxDo(t, "POST", a.URL("/signed/x"), body, "X-Signature", sig); r.status != 200 {
		t.Fatalf("signed on A: %d %s", r.status, r.body)
	}
	sxExpectProblem(t, sxDo(t, "POST", b.URL("/signed/x"), body, "X-Signature", sig), 401, "replayed_request")
}

func TestSessionsSignedRequests(t *testing.T) {
	c := sxStart(t)
	secret := []byte(sxSigningSecret)
	now := time.Now().Unix()
	body := `{"amount":10,"to":"acct-1"}`
	sign := func(t int64, method, target, body string) string {
		return hmacsig.Sign(secret, t, method, target, []byte(body))
	}

	t.Run("valid, body intact, header stripped", func(t *testing.T) {
		sig := sign(now, "POST", "/signed/pay?ref=a%20b", body)
		r := sxDo(t, "POST", c.URL("/signed/pay?ref=a%20b"), body, "X-Signature", sig, "Content-Type", "application/json")
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		got, _ := json.Marshal(r.json["body"])
		if string(got) != `{"amount":10,"to":"acct-1"}` {
			t.Fatalf("upstream body = %s", got)
		}
		if h := r.json["headers"].(map[string]any); h["x-signature"] != "" {
			t.Fatalf("upstream saw X-Signature %q", h["x-signature"])
		}
		sxExpectProblem(t, sxDo(t, "POST", c.URL("/signed/pay?ref=a%20b"), body, "X-Signature", sig), 401, "replayed_request")
	})
	t.Run("GET without body", func(t *testing.T) {
		if r := sxDo(t, "GET", c.URL("/signed/list?page=2"), "", "X-Signature", sign(now, "GET", "/signed/list?page=2", "")); r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
	t.Run("rotation: two v1 values", func(t *testing.T) {
		good := sign(now, "POST", "/signed/rot", body)
		h := fmt.Sprintf("t=%d,v1=%s,%s", now, strings.Repeat("ab", 32), good[strings.Index(good, "v1="):])
		if r := sxDo(t, "POST", c.URL("/signed/rot"), body, "X-Signature", h); r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
	for _, tc := range []struct {
		name, target, body, header string
		status                     int
		code, detail               string
	}{
		{"missing", "/signed/a", body, "", 401, "invalid_signature", "missing X-Signature"},
		{"malformed", "/signed/a", body, "sha256=deadbeef", 401, "invalid_signature", "malformed"},
		{"bad hex", "/signed/a", body, fmt.Sprintf("t=%d,v1=%s", now, strings.Repeat("zz", 32)), 401, "invalid_signature", "64 hex"},
		{"expired", "/signed/a", body, sign(now-301, "POST", "/signed/a", body), 401, "invalid_signature", "outside the allowed"},
		{"future", "/signed/a", body, sign(now+600, "POST", "/signed/a", body), 401, "invalid_signature", "outside the allowed"},
		{"tampered body", "/signed/a", `{"amount":1000,"to":"acct-1"}`, sign(now, "POST", "/signed/a", body), 401, "invalid_signature", "does not match"},
		{"tampered query", "/signed/a?x=2", body, sign(now, "POST", "/signed/a?x=1", body), 401, "invalid_signature", "does not match"},
		{"wrong secret", "/signed/a", body, hmacsig.Sign([]byte("another-secret-another-secret-another"), now, "POST", "/signed/a", []byte(body)), 401, "invalid_signature", "does not match"},
		{"too large", "/signed/big", strings.Repeat("x", 65<<10), sign(now, "POST", "/signed/big", strings.Repeat("x", 65<<10)), 413, "payload_too_large", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hdr []string
			if tc.header != "" {
				hdr = []string{"X-Signature", tc.header}
			}
			r := sxDo(t, "POST", c.URL(tc.target), tc.body, hdr...)
			sxExpectProblem(t, r, tc.status, tc.code)
			if !strings.Contains(r.str("detail"), tc.detail) {
				t.Fatalf("detail %q lacks %q", r.str("detail"), tc.detail)
			}
		})
	}
	t.Run("nothing secret in the log", func(t *testing.T) {
		if strings.Contains(c.Log.String(), sxSigningSecret) {
			t.Fatal("the signing secret reached the log")
		}
	})
}
