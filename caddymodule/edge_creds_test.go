package caddymodule

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apigw/caddy-apigw/internal/testutil"
)

// The tests below run Caddyfile.example through the real binary, for the
// credential classes of issue 17: logout CSRF (9), JWT claim types (10)
// and secrets in Caddy's access log (12).

const demoJWTSecret = "dev-only-jwt-secret-change-me-0123456789abcdef"

// ecDo sends one request and returns the status, headers and body.
func ecDo(t *testing.T, method, url, body string, hdr ...string) (int, http.Header, []byte) {
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
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func ecCode(b []byte) string {
	var p struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(b, &p)
	return p.Code
}

// ecLogin logs the demo account in and returns the session token.
func ecLogin(t *testing.T, c *testutil.Caddy) string {
	t.Helper()
	st, h, b := ecDo(t, "POST", c.URL("/login"), `{"username":"demo","password":"demo-password"}`, "Content-Type", "application/json")
	if st != 200 {
		t.Fatalf("login: %d %s", st, b)
	}
	for _, sc := range h.Values("Set-Cookie") {
		if ck, err := http.ParseSetCookie(sc); err == nil && ck.Name == "apigw_session" && ck.Value != "" {
			return ck.Value
		}
	}
	t.Fatal("no session cookie")
	return ""
}

// TestDemoLogoutCSRF: a cross-site logout is refused exactly like a
// cross-site login, and the session survives it.
func TestDemoLogoutCSRF(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts the gateway")
	}
	c := testutil.StartCaddy(t, testutil.Options{})
	self := "http://127.0.0.1:" + strconv.Itoa(c.HTTPPort)
	token := ecLogin(t, c)
	cookie := "apigw_session=" + token
	alive := func() bool {
		st, _, _ := ecDo(t, "GET", c.URL("/session/x"), "", "Cookie", cookie)
		return st == 200
	}
	for _, tc := range []struct {
		name string
		hdr  []string
	}{
		{"Sec-Fetch-Site cross-site", []string{"Sec-Fetch-Site", "cross-site"}},
		{"cross-site even with our Origin", []string{"Sec-Fetch-Site", "cross-site", "Origin", "http://evil.example"}},
		{"foreign Origin", []string{"Origin", "http://evil.example"}},
		{"foreign Referer", []string{"Referer", "http://evil.example/page"}},
		{"null Origin", []string{"Origin", "null"}},
		{"https variant of a trusted origin", []string{"Origin", "https://localhost:3000"}},
	} {
		for _, method := range []string{"POST", "DELETE"} {
			t.Run(method+" "+tc.name, func(t *testing.T) {
				// login refuses it too: the same check
				st, _, b := ecDo(t, "POST", c.URL("/login"), `{"username":"demo","password":"demo-password"}`,
					append([]string{"Content-Type", "application/json"}, tc.hdr...)...)
				if st != 403 || ecCode(b) != "csrf_rejected" {
					t.Fatalf("login: %d %s, want 403 csrf_rejected", st, b)
				}
				st, _, b = ecDo(t, method, c.URL("/logout"), "", append([]string{"Cookie", cookie}, tc.hdr...)...)
				if st != 403 || ecCode(b) != "csrf_rejected" {
					t.Fatalf("logout: %d %s, want 403 csrf_rejected", st, b)
				}
				if !alive() {
					t.Fatal("the session ended")
				}
			})
		}
	}
	// the trusted front end and the site itself may log out
	st, _, b := ecDo(t, "POST", c.URL("/logout"), "", "Cookie", cookie, "Origin", "http://localhost:3000", "Sec-Fetch-Site", "cross-site")
	if st != 204 || alive() {
		t.Fatalf("logout from the trusted origin: %d %s", st, b)
	}
	cookie = "apigw_session=" + ecLogin(t, c)
	if st, _, b := ecDo(t, "POST", c.URL("/logout"), "", "Cookie", cookie, "Origin", self, "Sec-Fetch-Site", "same-origin"); st != 204 || alive() {
		t.Fatalf("same-origin logout: %d %s", st, b)
	}
}

// TestDemoJWTClaimTypes: tokens minted by npm jose with registered
// claims of the wrong type are refused; a numeric jti never bypasses the
// revocation of its string form; U+00A0 does not separate scopes.
func TestDemoJWTClaimTypes(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts the gateway")
	}
	c := testutil.StartCaddy(t, testutil.Options{})
	exp := time.Now().Add(10 * time.Minute).Unix()
	resp, err := http.Post(c.AdminURL("/apigw/revocations"), "application/json", strings.NewReader(`{"jti":"4242"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("revoking 4242: %d", resp.StatusCode)
	}
	for _, tc := range []struct {
		name   string
		path   string
		claims map[string]any
		status int
		code   string
	}{
		{"revoked string jti", "/jwt/x", map[string]any{"jti": "4242"}, 401, "token_revoked"},
		{"numeric jti of a revoked id", "/jwt/x", map[string]any{"jti": 4242}, 401, "invalid_token"},
		{"object jti", "/jwt/x", map[string]any{"jti": map[string]any{"v": "4242"}}, 401, "invalid_token"},
		{"numeric iss", "/jwt/x", map[string]any{"iss": 1}, 401, "invalid_token"},
		{"numeric sub", "/jwt/x", map[string]any{"sub": 1}, 401, "invalid_token"},
		{"numeric aud", "/jwt/x", map[string]any{"aud": 1}, 401, "invalid_token"},
		{"aud array with a number", "/jwt/x", map[string]any{"aud": []any{"x", 1}}, 401, "invalid_token"},
		{"string exp", "/jwt/x", map[string]any{"exp": strconv.FormatInt(exp, 10)}, 401, "invalid_token"},
		{"string nbf", "/jwt/x", map[string]any{"nbf": "0"}, 401, "invalid_token"},
		{"string iat", "/jwt/x", map[string]any{"iat": "0"}, 401, "invalid_token"},
		{"exp 0", "/jwt/x", map[string]any{"exp": 0}, 401, "invalid_token"},
		{"numeric scope", "/jwt/admin/x", map[string]any{"scope": 1}, 401, "invalid_token"},
		{"NBSP between scopes", "/jwt/admin/x", map[string]any{"scope": "read\u00a0admin"}, 401, "invalid_token"},
		{"tab between scopes", "/jwt/admin/x", map[string]any{"scope": "read\tadmin"}, 401, "invalid_token"},
		{"newline between scopes", "/jwt/admin/x", map[string]any{"scope": "read\nadmin"}, 401, "invalid_token"},
		{"scp with a number", "/jwt/admin/x", map[string]any{"scp": []any{"admin", 1}}, 401, "invalid_token"},
		{"scope without admin", "/jwt/admin/x", map[string]any{"scope": "read write"}, 403, "insufficient_scope"},
		{"admin scope", "/jwt/admin/x", map[string]any{"scope": "read admin"}, 200, ""},
		{"string jti", "/jwt/x", map[string]any{"jti": "4243"}, 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			claims := map[string]any{"sub": "alice", "exp": exp}
			for k, v := range tc.claims {
				claims[k] = v
			}
			tok := mintJose(t, "HS256", demoJWTSecret, claims, nil)
			st, _, b := ecDo(t, "GET", c.URL(tc.path), "", "Authorization", "Bearer "+tok)
			if st != tc.status || ecCode(b) != tc.code {
				t.Fatalf("%d %s, want %d %q", st, b, tc.status, tc.code)
			}
		})
	}
}

// TestDemoAccessLogRedaction: with a `log` directive, every credential
// kind sent to every route (checked or not) is REDACTED in Caddy's own
// access log, and no log line (access, audit, errors) holds a secret.
// With log_credentials the other cookies show, the session's does not.
func TestDemoAccessLogRedaction(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts the gateway")
	}
	example, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), "Caddyfile.example"))
	if err != nil {
		t.Fatal(err)
	}
	for _, logCreds := range []bool{false, true} {
		t.Run("log_credentials="+strconv.FormatBool(logCreds), func(t *testing.T) {
			dir := t.TempDir()
			logFile := filepath.Join(dir, "access.log")
			cfg := strings.Replace(string(example), "\tbind 127.0.0.1\n",
				"\tbind 127.0.0.1\n\tlog {\n\t\toutput file "+logFile+"\n\t\tformat json\n\t}\n", 1)
			if logCreds {
				cfg = strings.Replace(cfg, "\tauto_https off\n", "\tauto_https off\n\tservers {\n\t\tlog_credentials\n\t}\n", 1)
			}
			path := filepath.Join(dir, "Caddyfile")
			if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			c := testutil.StartCaddy(t, testutil.Options{Config: path})
			session := ecLogin(t, c)
			jwtTok := mintJose(t, "HS256", demoJWTSecret, map[string]any{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()}, nil)
			secrets := map[string]string{
				"api key":             "sekrit-apikey-0a1b2c3d",
				"valid api key":       "demo-key-1",
				"bearer token":        jwtTok,
				"basic credentials":   "QWxhZGRpbjpvcGVuIHNlc2FtZQ-basic",
				"dpop token":          "dpop-scheme-token-9f8e7d",
				"proxy credentials":   "proxy-sekrit-4c5d6e",
				"x-signature":         "t=1700000000,v1=deadbeefcafe0123456789",
				"signature":           "sig1=:c2lnbmF0dXJlLXNla3JpdA==:",
				"signature-input":     `sig1=("@method");keyid="demo-ed25519";nonce="n0nce-sekrit"`,
				"dpop proof":          "eyJkcG9wLXByb29mLXNla3JpdCJ9.e30.c2ln",
				"session cookie":      session,
				"forged session":      "forged-session-value-123456",
				"custom header token": "not-a-credential-visible",
			}
			requests := [][]string{
				{"X-API-Key", secrets["api key"]},
				{"X-API-Key", secrets["valid api key"]},
				{"Authorization", "Bearer " + secrets["bearer token"]},
				{"Authorization", "Basic " + secrets["basic credentials"]},
				{"Authorization", "DPoP " + secrets["dpop token"], "DPoP", secrets["dpop proof"]},
				{"Proxy-Authorization", "Basic " + secrets["proxy credentials"]},
				{"X-Signature", secrets["x-signature"]},
				{"Signature", secrets["signature"], "Signature-Input", secrets["signature-input"]},
				{"Cookie", "theme=dark; apigw_session=" + secrets["session cookie"]},
				{"Cookie", "apigw_session=" + secrets["forged session"] + "; theme=dark"},
				{"X-Custom", secrets["custom header token"]},
			}
			routes := []string{"/open/x", "/key/x", "/jwt/x", "/jwt/admin/x", "/oidc/x", "/signed/x", "/session/x", "/users", "/boom", "/login", "/logout", "/nowhere"}
			n := 0
			for _, route := range routes {
				for _, hdr := range requests {
					method := "GET"
					if route == "/logout" || route == "/login" {
						method = "POST"
					}
					ecDo(t, method, c.URL(route), "", hdr...)
					n++
				}
			}
			// the access log is written after the response: wait for
			// every line (a deadline, not a timed assertion)
			var data []byte
			for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
				data, _ = os.ReadFile(logFile)
				if bytes.Count(data, []byte(`"msg":"handled request"`)) >= n {
					break
				}
			}
			if got := bytes.Count(data, []byte(`"msg":"handled request"`)); got < n {
				t.Fatalf("access log has %d lines, want >= %d", got, n)
			}
			all := string(data) + c.Log.String()
			for name, s := range secrets {
				if name == "custom header token" {
					if !strings.Contains(string(data), s) {
						t.Errorf("a harmless header is missing from the access log: the log is not what we think")
					}
					continue
				}
				if strings.Contains(all, s) {
					i := strings.Index(all, s)
					t.Errorf("%s appears in a log line: …%s…", name, all[max(0, i-200):min(len(all), i+len(s)+50)])
				}
			}
			if !strings.Contains(string(data), `"X-Api-Key":["REDACTED"]`) || !strings.Contains(string(data), `"Dpop":["REDACTED"]`) {
				t.Error("no REDACTED X-Api-Key / DPoP header in the access log")
			}
			if logCreds && !strings.Contains(string(data), "theme=dark; apigw_session=REDACTED") {
				t.Error("with log_credentials, the other cookies should stay and the session value be REDACTED")
			}
		})
	}
}
