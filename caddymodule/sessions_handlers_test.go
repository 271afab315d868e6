package caddymodule

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"
	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"

	"github.com/apigw/caddy-apigw/authn"
	"github.com/apigw/caddy-apigw/hmacsig"
	"github.com/apigw/caddy-apigw/problem"
	"github.com/apigw/caddy-apigw/sessions"
	"github.com/apigw/caddy-apigw/store"
)

// sxReq returns a request with a Caddy replacer, as a handler sees it.
func sxReq(method, target, body string, hdr ...string) *http.Request {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, target, rd)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Add(hdr[i], hdr[i+1])
	}
	caddyhttp.NewTestReplacer(r)
	return r
}

// sxProblem returns the problem inside a handler error, or nil.
func sxProblem(err error) *problem.Problem {
	var p *problem.Problem
	if errors.As(err, &p) {
		return p
	}
	return nil
}

// sxNext is a next handler that records whether it ran and the
// request it got.
type sxNext struct {
	called bool
	req    *http.Request
	body   string
}

func (rc *sxNext) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	rc.called, rc.req = true, r
	if r.Body != nil {
		b, _ := io.ReadAll(r.Body)
		rc.body = string(b)
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func TestAuthorize(t *testing.T) {
	jwtAdmin := &authn.Identity{ID: "alice", Method: "jwt", Scopes: []string{"read", "admin"},
		Claims: map[string]any{"tenant": "acme", "realm_access": map[string]any{"roles": []any{"ops"}}, "groups": []any{"g1", "g2"}, "verified": true}}
	jwtReader := &authn.Identity{ID: "bob", Method: "jwt", Scopes: []string{"read"}}
	keyUser := &authn.Identity{ID: "svc", Method: "api_key", Scopes: []string{"read"}, Roles: []string{"auditor"}}
	session := &authn.Identity{ID: "carol", Method: "session", Roles: []string{"admin"}}
	for _, tc := range []struct {
		name      string
		authz     Authorize
		id        *authn.Identity
		status    int
		challenge string
	}{
		{"scope ok", Authorize{Scopes: []string{"admin"}}, jwtAdmin, 200, ""},
		{"all scopes needed", Authorize{Scopes: []string{"admin", "write"}}, jwtAdmin, 403, `Bearer error="insufficient_scope", scope="admin write"`},
		{"scope missing jwt", Authorize{Scopes: []string{"admin"}}, jwtReader, 403, `Bearer error="insufficient_scope", scope="admin"`},
		{"scope missing api key: no bearer challenge", Authorize{Scopes: []string{"admin"}}, keyUser, 403, ""},
		{"role any of", Authorize{Roles: [][]string{{"admin", "auditor"}}}, keyUser, 200, ""},
		{"role groups all", Authorize{Roles: [][]string{{"admin"}, {"auditor"}}}, keyUser, 403, ""},
		{"session role", Authorize{Roles: [][]string{{"admin"}}}, session, 200, ""},
		{"claim value", Authorize{Claims: []ClaimRequirement{{Name: "tenant", Values: []string{"globex", "acme"}}}}, jwtAdmin, 200, ""},
		{"claim wrong value", Authorize{Claims: []ClaimRequirement{{Name: "tenant", Values: []string{"globex"}}}}, jwtAdmin, 403, `Bearer error="insufficient_scope"`},
		{"claim nested path", Authorize{Claims: []ClaimRequirement{{Name: "realm_access.roles", Values: []string{"ops"}}}}, jwtAdmin, 200, ""},
		{"claim array", Authorize{Claims: []ClaimRequirement{{Name: "groups", Values: []string{"g2"}}}}, jwtAdmin, 200, ""},
		{"claim bool", Authorize{Claims: []ClaimRequirement{{Name: "verified", Values: []string{"true"}}}}, jwtAdmin, 200, ""},
		{"claim absent", Authorize{Claims: []ClaimRequirement{{Name: "tenant", Values: []string{"acme"}}}}, jwtReader, 403, `Bearer error="insufficient_scope"`},
		{"claim sub", Authorize{Claims: []ClaimRequirement{{Name: "sub", Values: []string{"svc"}}}}, keyUser, 200, ""},
		{"claim method", Authorize{Claims: []ClaimRequirement{{Name: "method", Values: []string{"jwt"}}}}, session, 403, ""},
		{"no identity", Authorize{Scopes: []string{"read"}}, nil, 401, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := sxReq("GET", "/admin/x", "")
			if tc.id != nil {
				PublishIdentity(r, tc.id, IdentityHeaders{})
			}
			a := tc.authz
			a.logger = zap.NewNop()
			next := new(sxNext)
			err := a.ServeHTTP(httptest.NewRecorder(), r, next)
			if tc.status == 200 {
				if err != nil || !next.called {
					t.Fatalf("denied: %v", err)
				}
				return
			}
			p := sxProblem(err)
			if p == nil || p.Status != tc.status || next.called {
				t.Fatalf("got %v, want %d", err, tc.status)
			}
			if tc.status == 403 && p.Code != problem.CodeInsufficientScope {
				t.Fatalf("code = %s", p.Code)
			}
			if got := p.Header.Get("WWW-Authenticate"); got != tc.challenge {
				t.Fatalf("WWW-Authenticate = %q, want %q", got, tc.challenge)
			}
		})
	}
	if err := (&Authorize{}).Validate(); err == nil {
		t.Fatal("an empty authorization validated")
	}
}

func sxSignature(t *testing.T, now time.Time, secrets ...string) *Signature {
	t.Helper()
	st := store.NewMemory(time.Hour)
	t.Cleanup(func() { st.Close() })
	var keys [][]byte
	for _, s := range secrets {
		keys = append(keys, []byte(s))
	}
	v, err := hmacsig.NewVerifier(keys, 300*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return &Signature{Tolerance: caddy.Duration(300 * time.Second), MaxBody: 1024, Header: "X-Signature", verifier: v,
		replay: hmacsig.NewReplayCache(st, 600*time.Second), logger: zap.NewNop(), now: func() time.Time { return now }}
}

func TestSignatureHandler(t *testing.T) {
	secret := "unit-test-signing-secret-0123456789abcdef"
	now := time.Unix(1_800_000_000, 0)
	s := sxSignature(t, now, secret)
	body := `{"x":1}`
	sig := hmacsig.Sign([]byte(secret), now.Unix(), "POST", "/signed/a?b=c", []byte(body))

	next := new(sxNext)
	r := sxReq("POST", "/signed/a?b=c", body, "X-Signature", sig)
	if err := s.ServeHTTP(httptest.NewRecorder(), r, next); err != nil {
		t.Fatal(err)
	}
	if !next.called || next.body != body || next.req.ContentLength != int64(len(body)) || next.req.Header.Get("X-Signature") != "" {
		t.Fatalf("next got body %q, length %d, header %q", next.body, next.req.ContentLength, next.req.Header.Get("X-Signature"))
	}
	err := s.ServeHTTP(httptest.NewRecorder(), sxReq("POST", "/signed/a?b=c", body, "X-Signature", sig), new(sxNext))
	if p := sxProblem(err); p == nil || p.Code != problem.CodeReplayedRequest {
		t.Fatalf("replay: %v", err)
	}

	for _, tc := range []struct {
		name, target, body, header string
		status                     int
		code, detail               string
	}{
		{"missing", "/s", "", "", 401, problem.CodeInvalidSignature, "missing X-Signature"},
		{"malformed", "/s", "", "t=abc,v1=00", 401, problem.CodeInvalidSignature, "malformed"},
		{"stale at edge+1", "/s", "", hmacsig.Sign([]byte(secret), now.Unix()-301, "POST", "/s", nil), 401, problem.CodeInvalidSignature, "±300s"},
		{"tampered", "/s", "x", hmacsig.Sign([]byte(secret), now.Unix(), "POST", "/s", []byte("y")), 401, problem.CodeInvalidSignature, "does not match"},
		{"too large", "/s", strings.Repeat("a", 2000), hmacsig.Sign([]byte(secret), now.Unix(), "POST", "/s", []byte(strings.Repeat("a", 2000))), 413, problem.CodePayloadTooLarge, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hdr []string
			if tc.header != "" {
				hdr = []string{"X-Signature", tc.header}
			}
			next := new(sxNext)
			err := s.ServeHTTP(httptest.NewRecorder(), sxReq("POST", tc.target, tc.body, hdr...), next)
			p := sxProblem(err)
			if p == nil || p.Status != tc.status || p.Code != tc.code || !strings.Contains(p.Detail, tc.detail) || next.called {
				t.Fatalf("got %v", err)
			}
			if tc.status == 401 && !strings.HasPrefix(p.Header.Get("WWW-Authenticate"), "HMAC-SHA256") {
				t.Fatalf("WWW-Authenticate = %q", p.Header.Get("WWW-Authenticate"))
			}
		})
	}

	t.Run("pass_header keeps it", func(t *testing.T) {
		s := sxSignature(t, now, secret)
		s.PassHeader = true
		sig := hmacsig.Sign([]byte(secret), now.Unix(), "GET", "/p", nil)
		next := new(sxNext)
		if err := s.ServeHTTP(httptest.NewRecorder(), sxReq("GET", "/p", "", "X-Signature", sig), next); err != nil {
			t.Fatal(err)
		}
		if next.req.Header.Get("X-Signature") != sig {
			t.Fatal("header removed despite pass_header")
		}
	})
}

// sxFixture is a login/logout/session/csrf set over one memory store.
type sxFixture struct {
	mgr    *sessions.Manager
	login  *Login
	logout *Logout
	auth   *SessionAuth
}

func sxNewFixture(t *testing.T) *sxFixture {
	t.Helper()
	st := store.NewMemory(time.Hour)
	t.Cleanup(func() { st.Close() })
	mgr := sessions.NewManager(st, sessions.Config{})
	// bcrypt cost 4 of "pw"
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	accounts, err := sessions.LoadAccounts([]sessions.Account{{User: "demo", Hash: string(hash), Scopes: []string{"read"}, Roles: []string{"admin"}}}, caddyauth.BcryptHash{}, true)
	if err != nil {
		t.Fatal(err)
	}
	return &sxFixture{
		mgr:    mgr,
		login:  &Login{MaxBody: DefaultLoginMaxBody, policy: sessions.OriginPolicy{AllowMissing: true, AllowSameSite: true}, accounts: accounts, mgr: mgr, logger: zap.NewNop()},
		logout: &Logout{mgr: mgr, logger: zap.NewNop(), policy: sessions.OriginPolicy{AllowMissing: true, AllowSameSite: true}},
		auth:   &SessionAuth{mgr: mgr, cookie: mgr.CookieName(), logger: zap.NewNop(), publisher: NewIdentityPublisher(IdentityHeaders{})},
	}
}

func (f *sxFixture) doLogin(t *testing.T, hdr ...string) string {
	t.Helper()
	w := httptest.NewRecorder()
	r := sxReq("POST", "/login", `{"username":"demo","password":"pw"}`, append([]string{"Content-Type", "application/json"}, hdr...)...)
	if err := f.login.ServeHTTP(w, r, nil); err != nil {
		t.Fatalf("login: %v", err)
	}
	for _, c := range w.Result().Cookies() {
		if c.Name == "apigw_session" {
			return c.Value
		}
	}
	t.Fatal("no cookie")
	return ""
}

func TestSessionProviderAndLogout(t *testing.T) {
	f := sxNewFixture(t)
	token := f.doLogin(t)

	r := sxReq("GET", "/session/x", "", "Cookie", "a=1; apigw_session="+token+"; b=2", "X-Auth-User", "forged")
	user, ok, err := f.auth.Authenticate(httptest.NewRecorder(), r)
	if err != nil || !ok || user.ID != "demo" || userPlaceholder(r, "method") != "session" || userPlaceholder(r, "roles") != "admin" {
		t.Fatalf("Authenticate = %+v, %v, %v", user, ok, err)
	}
	if r.Header.Get("Cookie") != "a=1; b=2" || r.Header.Get("X-Auth-User") != "demo" {
		t.Fatalf("upstream headers: Cookie %q, X-Auth-User %q", r.Header.Get("Cookie"), r.Header.Get("X-Auth-User"))
	}
	id := IdentityOf(r)
	if id == nil || !id.HasRole("admin") || !id.HasScope("read") {
		t.Fatalf("identity = %+v", id)
	}

	t.Run("later valid cookie wins over a stale one", func(t *testing.T) {
		r := sxReq("GET", "/", "", "Cookie", "apigw_session="+strings.Repeat("Q", 43)+"; apigw_session="+token)
		if _, ok, _ := f.auth.Authenticate(httptest.NewRecorder(), r); !ok {
			t.Fatal("rejected")
		}
	})

	for _, tc := range []struct{ name, cookie, code string }{
		{"none", "", problem.CodeMissingCredentials},
		{"other cookies only", "a=1", problem.CodeMissingCredentials},
		{"garbage", "apigw_session=<script>", problem.CodeInvalidSession},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hdr []string
			if tc.cookie != "" {
				hdr = []string{"Cookie", tc.cookie}
			}
			r := sxReq("GET", "/", "", hdr...)
			if _, ok, err := f.auth.Authenticate(httptest.NewRecorder(), r); ok || err != nil {
				t.Fatalf("ok %v err %v", ok, err)
			}
			if p := ProblemFor(r, caddyhttp.Error(401, errors.New("not authenticated"))); p.Code != tc.code {
				t.Fatalf("code = %s, want %s", p.Code, tc.code)
			}
		})
	}

	w := httptest.NewRecorder()
	if err := f.logout.ServeHTTP(w, sxReq("POST", "/logout", "", "Cookie", "apigw_session="+token), nil); err != nil || w.Code != 204 {
		t.Fatalf("logout: %d %v", w.Code, err)
	}
	if _, ok, _ := f.auth.Authenticate(httptest.NewRecorder(), sxReq("GET", "/", "", "Cookie", "apigw_session="+token)); ok {
		t.Fatal("session valid after logout")
	}
	err = f.logout.ServeHTTP(httptest.NewRecorder(), sxReq("POST", "/logout", "", "Cookie", "apigw_session="+token), nil)
	if p := sxProblem(err); p == nil || p.Code != problem.CodeInvalidSession {
		t.Fatalf("second logout: %v", err)
	}
}

func TestLoginRotatesAndRejects(t *testing.T) {
	f := sxNewFixture(t)
	first := f.doLogin(t)
	second := f.doLogin(t, "Cookie", "apigw_session="+first)
	if first == second {
		t.Fatal("login reused the session")
	}
	if _, err := f.mgr.Lookup(t.Context(), first); err == nil {
		t.Fatal("the session sent with the login survived it")
	}
	// a failed login also ends the session it was sent with, and clears it
	w := httptest.NewRecorder()
	err := f.login.ServeHTTP(w, sxReq("POST", "/login", `{"username":"demo","password":"nope"}`, "Content-Type", "application/json", "Cookie", "apigw_session="+second), nil)
	if p := sxProblem(err); p == nil || p.Code != problem.CodeInvalidCredentials {
		t.Fatalf("bad password: %v", err)
	}
	if _, err := f.mgr.Lookup(t.Context(), second); err == nil {
		t.Fatal("session survived a failed login attempt with it")
	}
	if !strings.Contains(w.Header().Get("Set-Cookie"), "Max-Age=0") {
		t.Fatalf("Set-Cookie = %q", w.Header().Get("Set-Cookie"))
	}
}

func TestCSRFHandlerSkipsNonSessionIdentities(t *testing.T) {
	c := &CSRF{Mode: CSRFModeOrigin, logger: zap.NewNop()}
	for _, method := range []string{"api_key", "jwt"} {
		r := sxReq("POST", "/x", "{}", "Origin", "https://evil.example")
		PublishIdentity(r, &authn.Identity{ID: "svc", Method: method}, IdentityHeaders{})
		next := new(sxNext)
		if err := c.ServeHTTP(httptest.NewRecorder(), r, next); err != nil || !next.called {
			t.Fatalf("%s request blocked: %v", method, err)
		}
	}
	r := sxReq("POST", "/x", "{}", "Origin", "https://evil.example")
	PublishIdentity(r, &authn.Identity{ID: "u", Method: "session"}, IdentityHeaders{})
	if p := sxProblem(c.ServeHTTP(httptest.NewRecorder(), r, new(sxNext))); p == nil || p.Code != problem.CodeCSRFRejected || p.Status != 403 {
		t.Fatalf("session request from a foreign origin passed: %v", p)
	}
}

func TestLoginCookieOverHTTPS(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  sessions.Config
		want []string
	}{
		{"default", sessions.Config{}, []string{"apigw_session=", "HttpOnly", "Secure", "SameSite=Lax", "Path=/"}},
		{"host prefix strict", sessions.Config{HostPrefix: true, SameSite: "strict"}, []string{"__Host-apigw_session=", "HttpOnly", "Secure", "SameSite=Strict", "Path=/"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := sxNewFixture(t)
			st := store.NewMemory(time.Hour)
			t.Cleanup(func() { st.Close() })
			f.login.mgr = sessions.NewManager(st, tc.cfg)
			r := sxReq("POST", "https://example.com/login", "username=demo&password=pw", "Content-Type", "application/x-www-form-urlencoded")
			if r.TLS == nil {
				t.Fatal("test request is not TLS")
			}
			w := httptest.NewRecorder()
			if err := f.login.ServeHTTP(w, r, nil); err != nil {
				t.Fatal(err)
			}
			sc := w.Header().Get("Set-Cookie")
			for _, want := range tc.want {
				if !strings.Contains(sc, want) {
					t.Errorf("Set-Cookie %q lacks %q", sc, want)
				}
			}
			if strings.Contains(sc, "Domain=") || strings.Contains(sc, "Max-Age") || strings.Contains(sc, "Expires") {
				t.Errorf("Set-Cookie %q has Domain or a persistent lifetime", sc)
			}
		})
	}
}

// Two sessions of one user, used in turn: each request gets its own
// session's id and CSRF token, however the published identity is shared
// between the requests of a session.
func TestSessionPlaceholdersPerSession(t *testing.T) {
	f := sxNewFixture(t)
	tokens := []string{f.doLogin(t), f.doLogin(t)}
	for i := range 6 {
		token := tokens[i%2]
		r := sxReq("GET", "/session/x", "", "Cookie", "apigw_session="+token)
		if _, ok, err := f.auth.Authenticate(httptest.NewRecorder(), r); !ok || err != nil {
			t.Fatalf("request %d refused: %v", i, err)
		}
		repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
		sid, _ := repl.Get(SessionIDVar)
		csrf, _ := repl.GetString(SessionCSRFTokenVar)
		if sid != sessions.Handle(token) || csrf != sessions.CSRFToken(token) || userPlaceholder(r, "scope") != "read" {
			t.Fatalf("request %d: session id %v, csrf %q, scope %q", i, sid, csrf, userPlaceholder(r, "scope"))
		}
	}
}
