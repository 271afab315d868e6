package caddymodule

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap"

	"github.com/apigw/caddy-apigw/sessions"
	"github.com/apigw/caddy-apigw/store"
)

const oxTestSecret = "unit-test-oidc-client-secret-0123456789abcdef"

// oxFakeIssuer is a minimal OpenID Provider whose token endpoint returns
// the ID token the test builds, to reach the ID token checks that a real
// provider never fails (wrong audience, algorithm, issuer, expiry).
type oxFakeIssuer struct {
	srv      *httptest.Server
	key      *rsa.PrivateKey
	idToken  func(nonce string) string
	nonce    string
	issParam bool // advertise RFC 9207 iss in authorization responses
}

func newOXFakeIssuer(t *testing.T) *oxFakeIssuer { return newOXFakeIssuerISS(t, false) }

// newOXFakeIssuerISS is newOXFakeIssuer advertising (or not) RFC 9207's
// authorization_response_iss_parameter_supported.
func newOXFakeIssuerISS(t *testing.T, issParam bool) *oxFakeIssuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	f := &oxFakeIssuer{key: key, issParam: issParam}
	mux := http.NewServeMux()
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	iss := f.srv.URL
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer": iss, "authorization_endpoint": iss + "/authorize", "token_endpoint": iss + "/token",
			"jwks_uri": iss + "/jwks", "end_session_endpoint": iss + "/logout",
			"id_token_signing_alg_values_supported":          []string{"RS256"},
			"authorization_response_iss_parameter_supported": f.issParam,
		})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, _ *http.Request) {
		b64 := base64.RawURLEncoding.EncodeToString
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []any{map[string]string{
			"kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig",
			"n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes()),
		}}})
	})
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		id, secret, _ := r.BasicAuth()
		_ = r.ParseForm()
		if id != "gw" || secret != oxTestSecret || r.PostForm.Get("code") != "good-code" || len(r.PostForm.Get("code_verifier")) < 43 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(400)
			_, _ = w.Write([]byte(`{"error":"invalid_grant"}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "at", "token_type": "Bearer", "expires_in": 60, "id_token": f.idToken(f.nonce)})
	})
	return f
}

func (f *oxFakeIssuer) sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	tok.Header["kid"] = "k1"
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (f *oxFakeIssuer) claims(nonce string) jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{"iss": f.srv.URL, "aud": "gw", "sub": "alice", "email": "alice@example.com",
		"nonce": nonce, "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()}
}

func TestOIDCCallbackIDTokenChecks(t *testing.T) {
	f := newOXFakeIssuer(t)
	st := store.NewMemory(time.Hour)
	t.Cleanup(func() { st.Close() })
	mgr := sessions.NewManager(st, sessions.Config{})
	o := &OIDCLogin{
		OIDCClient:    OIDCClient{Issuer: f.srv.URL, AllowInsecureLoopback: true, ClientID: "gw", ClientSecret: oxTestSecret},
		RedirectURI:   "http://127.0.0.1:8080/auth/callback",
		ClaimMetadata: map[string]string{"email": "email"},
		Algorithms:    []string{"RS256"},
	}
	if err := o.provision(zap.NewNop(), mgr, st); err != nil {
		t.Fatal(err)
	}
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	for _, tc := range []struct {
		name  string
		token func(nonce string) string
		code  string
		ok    bool
	}{
		{name: "valid", ok: true, token: func(n string) string { return f.sign(t, jwt.SigningMethodRS256, f.key, f.claims(n)) }},
		{name: "wrong audience", token: func(n string) string {
			c := f.claims(n)
			c["aud"] = "someone-else"
			return f.sign(t, jwt.SigningMethodRS256, f.key, c)
		}},
		{name: "wrong issuer", token: func(n string) string {
			c := f.claims(n)
			c["iss"] = "https://evil.example"
			return f.sign(t, jwt.SigningMethodRS256, f.key, c)
		}},
		{name: "expired", token: func(n string) string {
			c := f.claims(n)
			c["exp"] = time.Now().Add(-time.Hour).Unix()
			return f.sign(t, jwt.SigningMethodRS256, f.key, c)
		}},
		{name: "wrong nonce", token: func(string) string { return f.sign(t, jwt.SigningMethodRS256, f.key, f.claims("other-nonce")) }},
		{name: "HS256 with the client secret", token: func(n string) string {
			return f.sign(t, jwt.SigningMethodHS256, []byte(oxTestSecret), f.claims(n))
		}},
		{name: "alg none", token: func(n string) string {
			return f.sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, f.claims(n))
		}},
		{name: "PS256 not allowed", token: func(n string) string { return f.sign(t, jwt.SigningMethodPS256, f.key, f.claims(n)) }},
		{name: "signed by another key", token: func(n string) string { return f.sign(t, jwt.SigningMethodRS256, other, f.claims(n)) }},
		{name: "no sub", token: func(n string) string {
			c := f.claims(n)
			delete(c, "sub")
			return f.sign(t, jwt.SigningMethodRS256, f.key, c)
		}},
		{name: "bad code", code: "bad-code", token: func(n string) string { return f.sign(t, jwt.SigningMethodRS256, f.key, f.claims(n)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.idToken = tc.token
			w := httptest.NewRecorder()
			if err := o.ServeHTTP(w, sxReq("GET", "/auth/login?return_to=/app/x", ""), nil); err != nil {
				t.Fatal(err)
			}
			loc, _ := url.Parse(w.Header().Get("Location"))
			f.nonce = loc.Query().Get("nonce")
			var cookie string
			for _, c := range w.Result().Cookies() {
				if c.Name == OIDCStateCookie {
					cookie = c.Name + "=" + c.Value
				}
			}
			code := tc.code
			if code == "" {
				code = "good-code"
			}
			w = httptest.NewRecorder()
			err := o.ServeHTTP(w, sxReq("GET", "/auth/callback?code="+code+"&state="+loc.Query().Get("state"), "", "Cookie", cookie), nil)
			var session string
			for _, c := range w.Result().Cookies() {
				if c.Name == "apigw_session" && c.Value != "" {
					session = c.Value
				}
			}
			if tc.ok {
				if err != nil || w.Code != http.StatusFound || w.Header().Get("Location") != "/app/x" || session == "" {
					t.Fatalf("valid login: %v %d %q", err, w.Code, w.Header().Get("Location"))
				}
				s, err := mgr.Lookup(sxReq("GET", "/", "").Context(), session)
				if err != nil || s.User != "alice" || s.Meta["email"] != "alice@example.com" {
					t.Fatalf("session = %+v, %v", s, err)
				}
				return
			}
			p := sxProblem(err)
			if p == nil || p.Status != http.StatusUnauthorized || p.Code != "invalid_credentials" || session != "" {
				t.Fatalf("got %v (session %q), want 401 invalid_credentials and no session", err, session)
			}
			if strings.Contains(p.Detail, "good-code") || strings.Contains(p.Detail, oxTestSecret) {
				t.Fatalf("detail leaks input: %q", p.Detail)
			}
		})
	}
}

// TestOIDCCallbackIssParameter: RFC 9207 mix-up defence. An iss that is
// not the configured issuer is refused; when the issuer advertises
// authorization_response_iss_parameter_supported, so is a missing one.
func TestOIDCCallbackIssParameter(t *testing.T) {
	f := newOXFakeIssuerISS(t, true)
	f.idToken = func(n string) string { return f.sign(t, jwt.SigningMethodRS256, f.key, f.claims(n)) }
	st := store.NewMemory(time.Hour)
	t.Cleanup(func() { st.Close() })
	mgr := sessions.NewManager(st, sessions.Config{})
	o := &OIDCLogin{
		OIDCClient:  OIDCClient{Issuer: f.srv.URL, AllowInsecureLoopback: true, ClientID: "gw", ClientSecret: oxTestSecret},
		RedirectURI: "http://127.0.0.1:8080/auth/callback",
		Algorithms:  []string{"RS256"},
	}
	if err := o.provision(zap.NewNop(), mgr, st); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, iss string // iss "-": none
		ok        bool
	}{
		{name: "no iss", iss: "-"},
		{name: "another issuer", iss: "https://evil.example"},
		{name: "the issuer with a trailing slash", iss: f.srv.URL + "/"},
		{name: "the configured issuer", iss: f.srv.URL, ok: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			if err := o.ServeHTTP(w, sxReq("GET", "/auth/login?return_to=/app/x", ""), nil); err != nil {
				t.Fatal(err)
			}
			loc, _ := url.Parse(w.Header().Get("Location"))
			f.nonce = loc.Query().Get("nonce")
			var cookie string
			for _, c := range w.Result().Cookies() {
				if c.Name == OIDCStateCookie {
					cookie = c.Name + "=" + c.Value
				}
			}
			target := "/auth/callback?code=good-code&state=" + loc.Query().Get("state")
			if tc.iss != "-" {
				target += "&iss=" + url.QueryEscape(tc.iss)
			}
			w = httptest.NewRecorder()
			err := o.ServeHTTP(w, sxReq("GET", target, "", "Cookie", cookie), nil)
			if tc.ok {
				if err != nil || w.Code != http.StatusFound || w.Header().Get("Location") != "/app/x" {
					t.Fatalf("login with the right iss: %v %d", err, w.Code)
				}
				return
			}
			if p := sxProblem(err); p == nil || p.Status != http.StatusUnauthorized || p.Code != "invalid_credentials" {
				t.Fatalf("got %v, want 401 invalid_credentials", err)
			}
			for _, c := range w.Result().Cookies() {
				if c.Name == "apigw_session" && c.Value != "" {
					t.Fatal("a session was started")
				}
			}
		})
	}
}
