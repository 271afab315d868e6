package caddymodule_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apigw/caddy-apigw/internal/testutil"
)

const (
	oxClientID     = "caddy-apigw-demo"
	oxClientSecret = "test-oidc-client-secret-0123456789abcdef-xyz"
)

// oxBrowser is one user agent: its own cookie jar, redirects not followed
// automatically so each hop can be checked.
type oxBrowser struct {
	t      *testing.T
	client *http.Client
}

func newOXBrowser(t *testing.T) *oxBrowser {
	jar, _ := cookiejar.New(nil)
	return &oxBrowser{t: t, client: &http.Client{
		Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func (b *oxBrowser) do(method, u string, hdr ...string) sxResult {
	b.t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	res := sxResult{status: resp.StatusCode, header: resp.Header, body: body}
	_ = json.Unmarshal(body, &res.json)
	return res
}

// cookie returns the jar's value of the gateway cookie name.
func (b *oxBrowser) cookie(c *testutil.Caddy, name string) string {
	u, _ := url.Parse(c.URL("/app/"))
	for _, ck := range b.client.Jar.Cookies(u) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

// startLogin asks the gateway for a login and returns the authorization URL.
func (b *oxBrowser) startLogin(c *testutil.Caddy, returnTo string) string {
	b.t.Helper()
	u := c.URL("/auth/login")
	if returnTo != "" {
		u += "?return_to=" + url.QueryEscape(returnTo)
	}
	r := b.do("GET", u)
	if r.status != http.StatusFound {
		b.t.Fatalf("GET /auth/login: %d %s", r.status, r.body)
	}
	return r.header.Get("Location")
}

// atProvider follows the provider's redirects (interaction, consent) until
// it sends the browser back to the gateway; it returns that callback URL.
func (b *oxBrowser) atProvider(c *testutil.Caddy, authURL string) string {
	b.t.Helper()
	next := authURL
	for range 10 {
		if strings.HasPrefix(next, c.URL("/auth/callback")) {
			return next
		}
		r := b.do("GET", next)
		if r.status != http.StatusFound && r.status != http.StatusSeeOther {
			b.t.Fatalf("provider %s: %d %s", next, r.status, r.body)
		}
		loc, err := url.Parse(next)
		if err != nil {
			b.t.Fatal(err)
		}
		ref, err := loc.Parse(r.header.Get("Location"))
		if err != nil {
			b.t.Fatal(err)
		}
		next = ref.String()
	}
	b.t.Fatalf("the provider never redirected back to the gateway")
	return ""
}

// login runs the whole flow and returns the final redirect target and
// the session cookie.
func (b *oxBrowser) login(c *testutil.Caddy, returnTo string) (string, string) {
	b.t.Helper()
	cb := b.atProvider(c, b.startLogin(c, returnTo))
	r := b.do("GET", cb)
	if r.status != http.StatusFound {
		b.t.Fatalf("callback: %d %s", r.status, r.body)
	}
	tok := b.cookie(c, "apigw_session")
	if tok == "" {
		b.t.Fatal("callback set no session cookie")
	}
	return r.header.Get("Location"), tok
}

// oxStart starts an oidc-provider and the demo gateway wired to it.
func oxStart(t *testing.T, env ...string) (*testutil.Caddy, *testutil.OIDCProvider) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: starts Caddy and oidc-provider")
	}
	port := testutil.FreePort(t)
	gw := "http://127.0.0.1:" + strconv.Itoa(port)
	op := testutil.StartOIDCProvider(t, 0, oxClientID, oxClientSecret, []string{gw + "/auth/callback"}, []string{gw + "/"})
	c := testutil.StartCaddy(t, testutil.Options{HTTPPort: port, Env: append([]string{
		"APIGW_OIDC_ISSUER=" + op.Issuer, "APIGW_OIDC_CLIENT_SECRET=" + oxClientSecret,
	}, env...)})
	return c, op
}

func TestDemoOIDCLoginSessionLogout(t *testing.T) {
	c, _ := oxStart(t)
	b := newOXBrowser(t)

	auth := b.startLogin(c, "/app/profile?tab=1")
	t.Run("authorization request", func(t *testing.T) {
		u, err := url.Parse(auth)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		for k, want := range map[string]string{
			"response_type": "code", "client_id": oxClientID, "code_challenge_method": "S256",
			"scope": "openid profile email", "redirect_uri": c.URL("/auth/callback"),
		} {
			if q.Get(k) != want {
				t.Errorf("%s = %q, want %q", k, q.Get(k), want)
			}
		}
		for _, k := range []string{"state", "nonce", "code_challenge"} {
			if len(q.Get(k)) < 43 {
				t.Errorf("%s = %q: want a random value of at least 256 bits", k, q.Get(k))
			}
		}
		if b.cookie(c, "apigw_session") != "" {
			t.Error("a session exists before the callback")
		}
	})
	cb := b.atProvider(c, auth)
	r := b.do("GET", cb)
	if r.status != http.StatusFound || r.header.Get("Location") != "/app/profile?tab=1" {
		t.Fatalf("callback: %d %q %s", r.status, r.header.Get("Location"), r.body)
	}
	token := b.cookie(c, "apigw_session")

	t.Run("the session works like one from POST /login", func(t *testing.T) {
		r := b.do("GET", c.URL("/app/profile"))
		if r.status != 200 {
			t.Fatalf("GET /app/profile: %d %s", r.status, r.body)
		}
		hdr, _ := r.json["headers"].(map[string]any)
		if hdr["x-auth-user"] != "alice" || hdr["x-auth-method"] != "session" {
			t.Fatalf("upstream saw %v", hdr)
		}
		if strings.Contains(hdr["cookie"].(string), token) {
			t.Fatal("the session cookie reached the upstream")
		}
		// the same cookie works on /session/* too: one session model
		if r := b.do("GET", c.URL("/session/x")); r.status != 200 {
			t.Fatalf("GET /session/x: %d %s", r.status, r.body)
		}
		// and the admin API lists it
		ar := sxDo(t, "GET", c.AdminURL("/apigw/sessions?user=alice"), "")
		if ar.status != 200 || !strings.Contains(string(ar.body), `"user":"alice"`) {
			t.Fatalf("admin listing: %d %s", ar.status, ar.body)
		}
	})
	t.Run("state replay", func(t *testing.T) {
		r := b.do("GET", cb)
		sxExpectProblem(t, r, 401, "invalid_credentials")
	})
	t.Run("unsafe method from another site", func(t *testing.T) {
		r := b.do("POST", c.URL("/app/x"), "Origin", "http://evil.example", "Sec-Fetch-Site", "cross-site")
		sxExpectProblem(t, r, 403, "csrf_rejected")
		if r := b.do("POST", c.URL("/app/x"), "Origin", c.URL("")); r.status != 200 {
			t.Fatalf("same-origin POST: %d %s", r.status, r.body)
		}
	})
	t.Run("logout from another site refused", func(t *testing.T) {
		r := b.do("POST", c.URL("/auth/logout"), "Origin", "http://evil.example", "Sec-Fetch-Site", "cross-site")
		sxExpectProblem(t, r, 403, "csrf_rejected")
	})
	t.Run("logout", func(t *testing.T) {
		r := b.do("POST", c.URL("/auth/logout"), "Origin", c.URL(""))
		if r.status != 200 {
			t.Fatalf("logout: %d %s", r.status, r.body)
		}
		es, _ := r.json["end_session_url"].(string)
		u, err := url.Parse(es)
		if err != nil || !strings.HasSuffix(u.Path, "/session/end") {
			t.Fatalf("end_session_url = %q", es)
		}
		if u.Query().Get("post_logout_redirect_uri") != c.URL("/") || strings.Count(u.Query().Get("id_token_hint"), ".") != 2 {
			t.Fatalf("end_session_url query = %v", u.Query())
		}
		old := sxDo(t, "GET", c.URL("/app/profile"), "", "Cookie", "apigw_session="+token)
		sxExpectProblem(t, old, 401, "invalid_session")
		again := sxDo(t, "POST", c.URL("/auth/logout"), "", "Cookie", "apigw_session="+token)
		sxExpectProblem(t, again, 401, "invalid_session")
	})
	t.Run("nothing secret in the log", func(t *testing.T) {
		code, _ := url.Parse(cb)
		log := c.Log.String()
		for name, secret := range map[string]string{"client secret": oxClientSecret, "session token": token, "code": code.Query().Get("code"), "state": code.Query().Get("state")} {
			if secret != "" && strings.Contains(log, secret) {
				t.Errorf("the gateway log holds the %s", name)
			}
		}
		if !strings.Contains(log, "login_succeeded") {
			t.Error("no login_succeeded audit line: the log check would prove nothing")
		}
	})
}

func TestDemoOIDCAppWithoutSession(t *testing.T) {
	c, _ := oxStart(t)
	r := sxDo(t, "GET", c.URL("/app/a/b?x=1"), "", "Accept", "text/html,application/xhtml+xml")
	if r.status != http.StatusFound || r.header.Get("Location") != "/auth/login?return_to="+url.QueryEscape("/app/a/b?x=1") {
		t.Fatalf("navigation: %d %q", r.status, r.header.Get("Location"))
	}
	sxExpectProblem(t, sxDo(t, "GET", c.URL("/app/a"), "", "Accept", "application/json"), 401, "missing_credentials")
	sxExpectProblem(t, sxDo(t, "GET", c.URL("/app/a"), "", "Cookie", "apigw_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), 401, "invalid_session")
	sxExpectProblem(t, sxDo(t, "POST", c.URL("/app/a"), "", "Accept", "text/html"), 401, "missing_credentials")
}

func TestDemoOIDCCallbackAttacks(t *testing.T) {
	c, op := oxStart(t)

	t.Run("cross-browser state", func(t *testing.T) {
		victim, attacker := newOXBrowser(t), newOXBrowser(t)
		cb := victim.atProvider(c, victim.startLogin(c, ""))
		r := attacker.do("GET", cb)
		sxExpectProblem(t, r, 401, "invalid_credentials")
		if attacker.cookie(c, "apigw_session") != "" {
			t.Fatal("a session was created for the other browser")
		}
		// the foreign attempt did not use up the victim's login
		if r := victim.do("GET", cb); r.status != http.StatusFound {
			t.Fatalf("the real browser's callback: %d %s", r.status, r.body)
		}
	})
	t.Run("tampered code", func(t *testing.T) {
		b := newOXBrowser(t)
		cb := b.atProvider(c, b.startLogin(c, ""))
		u, _ := url.Parse(cb)
		q := u.Query()
		q.Set("code", q.Get("code")+"x")
		u.RawQuery = q.Encode()
		sxExpectProblem(t, b.do("GET", u.String()), 401, "invalid_credentials")
		if b.cookie(c, "apigw_session") != "" {
			t.Fatal("a session was created")
		}
	})
	t.Run("nonce mismatch", func(t *testing.T) {
		b := newOXBrowser(t)
		u, _ := url.Parse(b.startLogin(c, ""))
		q := u.Query()
		q.Set("nonce", strings.Repeat("n", 43))
		u.RawQuery = q.Encode()
		r := b.do("GET", b.atProvider(c, u.String()))
		sxExpectProblem(t, r, 401, "invalid_credentials")
		if !strings.Contains(r.str("detail"), "nonce") {
			t.Fatalf("detail %q does not name the nonce", r.str("detail"))
		}
	})
	for _, tc := range []struct{ name, mutate string }{
		{"missing state", "drop:state"},
		{"missing code", "drop:code"},
		{"duplicated code", "dup:code"},
		{"duplicated state", "dup:state"},
		{"extra parameter", "add:foo"},
		{"provider error", "add:error"},
		{"foreign issuer", "iss"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newOXBrowser(t)
			cb := b.atProvider(c, b.startLogin(c, ""))
			u, _ := url.Parse(cb)
			q := u.Query()
			op, name, _ := strings.Cut(tc.mutate, ":")
			switch op {
			case "drop":
				q.Del(name)
			case "dup":
				q.Add(name, q.Get(name))
			case "add":
				q.Set(name, "access_denied")
			case "iss":
				q.Set("iss", "http://127.0.0.1:1")
			}
			u.RawQuery = q.Encode()
			r := b.do("GET", u.String())
			sxExpectProblem(t, r, 401, "invalid_credentials")
			if b.cookie(c, "apigw_session") != "" {
				t.Fatal("a session was created")
			}
			if strings.Contains(string(r.body), q.Get("code")) && q.Get("code") != "" {
				t.Fatal("the problem echoes the code")
			}
		})
	}
	t.Run("open redirects are ignored", func(t *testing.T) {
		for _, rt := range []string{"//evil.example/x", "/\\evil.example", "https://evil.example/", "/%2F%2Fevil.example", "/%5Cevil.example", "/app/\r\nSet-Cookie:x=1", "javascript:alert(1)"} {
			b := newOXBrowser(t)
			loc, _ := b.login(c, rt)
			if loc != "/app/" {
				t.Errorf("return_to %q → Location %q, want /app/", rt, loc)
			}
		}
	})
	if !strings.Contains(op.Log.String(), "ready") {
		t.Fatal("provider log lost")
	}
}

func TestDemoOIDCIntrospection(t *testing.T) {
	c, op := oxStart(t)
	get := func(tok string) sxResult {
		return sxDo(t, "GET", c.URL("/introspect/x"), "", "Authorization", "Bearer "+tok)
	}
	t.Run("active", func(t *testing.T) {
		r := get(op.MintAccessToken(t, "bob", "read write", ""))
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		hdr, _ := r.json["headers"].(map[string]any)
		if hdr["x-auth-user"] != "bob" || hdr["x-auth-scope"] != "read write" || hdr["x-auth-method"] != "introspection" || hdr["authorization"] != "" {
			t.Fatalf("upstream saw %v", hdr)
		}
	})
	t.Run("revoked", func(t *testing.T) {
		tok := op.MintAccessToken(t, "bob", "read", "")
		req, _ := http.NewRequest("POST", op.Issuer+"/token/revocation", strings.NewReader("token="+tok))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(oxClientID, oxClientSecret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("revocation: %v %v", err, resp)
		}
		resp.Body.Close()
		sxExpectProblem(t, get(tok), 401, "invalid_token")
	})
	t.Run("garbage and missing", func(t *testing.T) {
		sxExpectProblem(t, get("garbage-token"), 401, "invalid_token")
		sxExpectProblem(t, get(strings.Repeat("a", 5000)), 401, "invalid_token")
		sxExpectProblem(t, sxDo(t, "GET", c.URL("/introspect/x"), ""), 401, "missing_credentials")
		sxExpectProblem(t, sxDo(t, "GET", c.URL("/introspect/x"), "", "Authorization", "Basic Zm9vOmJhcg=="), 401, "invalid_token")
	})
	t.Run("sender-constrained token as Bearer", func(t *testing.T) {
		sxExpectProblem(t, get(op.MintAccessToken(t, "bob", "read", "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I")), 401, "invalid_token")
	})
	t.Run("one call for concurrent requests", func(t *testing.T) {
		tok := op.MintAccessToken(t, "carol", "read", "")
		before := op.IntrospectionCalls(t)
		const n = 20
		var wg sync.WaitGroup
		statuses := make([]int, n)
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				req, _ := http.NewRequest("GET", c.URL("/introspect/x"), nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				resp, err := sxClient.Do(req)
				if err == nil {
					statuses[i] = resp.StatusCode
					resp.Body.Close()
				}
			}()
		}
		close(start)
		wg.Wait()
		for i, s := range statuses {
			if s != 200 {
				t.Fatalf("request %d: %d", i, s)
			}
		}
		if calls := op.IntrospectionCalls(t) - before; calls != 1 {
			t.Fatalf("%d concurrent requests made %d introspection calls, want 1", n, calls)
		}
	})
	t.Run("bad answers", func(t *testing.T) {
		for _, mode := range []string{"huge", "html"} {
			op.Control(t, "/test/introspection?mode="+mode)
			r := get(op.MintAccessToken(t, "bob", "read", ""))
			sxExpectProblem(t, r, 503, "service_unavailable")
			if !strings.Contains(r.str("detail"), "introspection answer") {
				t.Fatalf("%s: detail %q", mode, r.str("detail"))
			}
		}
		op.Control(t, "/test/introspection?mode=normal")
	})
	t.Run("issuer stopped", func(t *testing.T) {
		cached := op.MintAccessToken(t, "dave", "read", "")
		if r := get(cached); r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		fresh := op.MintAccessToken(t, "erin", "read", "")
		op.Stop()
		if r := get(cached); r.status != 200 {
			t.Fatalf("a cached positive answer stopped working with the issuer down: %d %s", r.status, r.body)
		}
		r := get(fresh)
		sxExpectProblem(t, r, 503, "service_unavailable")
		if !strings.Contains(r.str("detail"), op.Issuer) || !strings.Contains(r.str("detail"), "APIGW_OIDC_ISSUER") {
			t.Fatalf("detail %q does not name the issuer", r.str("detail"))
		}
		if r := sxDo(t, "GET", c.URL("/open/x"), ""); r.status != 200 {
			t.Fatalf("other routes: %d", r.status)
		}
	})
}

// TestDemoOIDCIssuerDownAtStart: the gateway starts without its issuer,
// names it in the 503, and recovers by itself once it is up.
func TestDemoOIDCIssuerDownAtStart(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	port, opPort := testutil.FreePort(t), testutil.FreePort(t)
	gw := "http://127.0.0.1:" + strconv.Itoa(port)
	c := testutil.StartCaddy(t, testutil.Options{HTTPPort: port, Env: []string{
		"APIGW_OIDC_ISSUER=http://127.0.0.1:" + strconv.Itoa(opPort), "APIGW_OIDC_CLIENT_SECRET=" + oxClientSecret,
	}})
	for _, p := range []string{"/auth/login", "/introspect/x"} {
		r := sxDo(t, "GET", c.URL(p), "", "Authorization", "Bearer some-token")
		sxExpectProblem(t, r, 503, "service_unavailable")
		if !strings.Contains(r.str("detail"), "APIGW_OIDC_ISSUER") || !strings.Contains(r.str("detail"), "127.0.0.1:"+strconv.Itoa(opPort)) {
			t.Fatalf("%s: detail %q does not name the issuer", p, r.str("detail"))
		}
	}
	if r := sxDo(t, "GET", c.URL("/open/x"), ""); r.status != 200 {
		t.Fatalf("other routes: %d", r.status)
	}
	op := testutil.StartOIDCProvider(t, opPort, oxClientID, oxClientSecret, []string{gw + "/auth/callback"}, []string{gw + "/"})
	deadline := time.Now().Add(60 * time.Second)
	for {
		r := sxDo(t, "GET", c.URL("/auth/login"), "")
		if r.status == http.StatusFound {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recovery: %d %s", r.status, r.body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if loc, _ := newOXBrowser(t).login(c, "/app/ok"); loc != "/app/ok" {
		t.Fatalf("login after recovery went to %q", loc)
	}

	// the issuer stops between the authorization and the code exchange
	b := newOXBrowser(t)
	cb := b.atProvider(c, b.startLogin(c, ""))
	op.Stop()
	r := b.do("GET", cb)
	sxExpectProblem(t, r, 503, "service_unavailable")
	if !strings.Contains(r.str("detail"), "APIGW_OIDC_ISSUER") || b.cookie(c, "apigw_session") != "" {
		t.Fatalf("callback with the issuer down: %s (session cookie %q)", r.body, b.cookie(c, "apigw_session"))
	}
}

// TestDemoOIDCMaxPendingLogins: the demo gateway with max_pending_logins 3
// refuses a fourth unauthenticated GET /auth/login with 503
// service_unavailable and Retry-After, while finishing a login frees its
// slot for the next one.
func TestDemoOIDCMaxPendingLogins(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts Caddy and oidc-provider")
	}
	const anchor = "\t\t\tclaim_metadata email\n" // in apigw_oidc
	cfg, example := filepath.Join(t.TempDir(), "Caddyfile"), oxExampleCaddyfile(t)
	if err := os.WriteFile(cfg, []byte(strings.Replace(example, anchor, anchor+"\t\t\tmax_pending_logins 3\n", 1)), 0o600); err != nil || !strings.Contains(example, anchor) {
		t.Fatalf("demo Caddyfile with max_pending_logins: %v (anchor found: %v)", err, strings.Contains(example, anchor))
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

// oxExampleCaddyfile returns the demo Caddyfile.
func oxExampleCaddyfile(t *testing.T) string {
	b, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), "Caddyfile.example"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
