package caddymodule

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap"

	"github.com/apigw/caddy-apigw/authn"
	"github.com/apigw/caddy-apigw/internal/testutil"
	"github.com/apigw/caddy-apigw/problem"
	"github.com/apigw/caddy-apigw/store"
)

const testJWTSecret = "dev-only-jwt-secret-change-me-0123456789abcdef"

func provisionJWT(t testing.TB, j *JWTAuth, st store.Store) *JWTAuth {
	t.Helper()
	if err := j.provision(zap.NewNop(), st); err != nil {
		t.Fatalf("provision: %v", err)
	}
	t.Cleanup(func() { _ = j.Cleanup() })
	return j
}

func hs256(t testing.TB, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(testJWTSecret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestJWTAuthenticate(t *testing.T) {
	st := newTestStore(t)
	j := provisionJWT(t, &JWTAuth{
		Secret:          testJWTSecret,
		Algorithms:      []string{"HS256"},
		IdentityHeaders: IdentityHeaders{Claims: map[string]string{"email": "X-Auth-Email", "scope": "X-Auth-Scope"}},
	}, st)
	exp := time.Now().Add(time.Hour).Unix()
	good := hs256(t, jwt.MapClaims{"sub": "alice", "exp": exp, "email": "a@example.com", "scope": "read admin"})
	revoked := hs256(t, jwt.MapClaims{"sub": "alice", "exp": exp, "jti": "tok-1"})
	if err := authn.NewRevocations(st).RevokeJTI(context.Background(), "tok-1", time.Unix(exp, 0)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		auth      []string
		wantUser  string
		wantCode  string
		challenge string
	}{
		{"valid", []string{"Bearer " + good}, "alice", "", ""},
		{"scheme is case-insensitive", []string{"bearer " + good}, "alice", "", ""},
		{"missing", nil, "", problem.CodeMissingCredentials, `Bearer realm="caddy-apigw"`},
		{"basic scheme", []string{"Basic YTpi"}, "", problem.CodeInvalidToken, `Bearer realm="caddy-apigw", error="invalid_token", error_description="the Authorization header must be \"Bearer <token>\""`},
		{"token without scheme", []string{good}, "", problem.CodeInvalidToken, ""},
		{"two headers", []string{"Bearer " + good, "Bearer " + good}, "", problem.CodeInvalidToken, ""},
		{"garbage", []string{"Bearer abc"}, "", problem.CodeInvalidToken, `Bearer realm="caddy-apigw", error="invalid_token", error_description="token is malformed"`},
		{"expired", []string{"Bearer " + hs256(t, jwt.MapClaims{"sub": "a", "exp": time.Now().Add(-time.Hour).Unix()})}, "", problem.CodeTokenExpired, `Bearer realm="caddy-apigw", error="invalid_token", error_description="token has expired"`},
		{"no sub", []string{"Bearer " + hs256(t, jwt.MapClaims{"exp": exp})}, "", problem.CodeInvalidToken, ""},
		{"sub with CR LF", []string{"Bearer " + hs256(t, jwt.MapClaims{"sub": "a\r\nX-Auth-Method: admin", "exp": exp})}, "", problem.CodeInvalidToken, ""},
		{"revoked jti", []string{"Bearer " + revoked}, "", problem.CodeTokenRevoked, `Bearer realm="caddy-apigw", error="invalid_token", error_description="token has been revoked"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{"X-Auth-Email": {"forged@example.com"}}
			if tc.auth != nil {
				h["Authorization"] = tc.auth
			}
			r := authRequest("/jwt/x", "127.0.0.1", h)
			user, ok, err := j.Authenticate(httptest.NewRecorder(), r)
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantCode != "" {
				if ok {
					t.Fatalf("accepted as %+v", user)
				}
				p := recordedProblem(r)
				if p.Code != tc.wantCode || p.Status != http.StatusUnauthorized {
					t.Fatalf("problem %d %s %q, want %s", p.Status, p.Code, p.Detail, tc.wantCode)
				}
				if tc.challenge != "" && p.Header.Get("WWW-Authenticate") != tc.challenge {
					t.Fatalf("WWW-Authenticate %s, want %s", p.Header.Get("WWW-Authenticate"), tc.challenge)
				}
				return
			}
			if !ok || user.ID != tc.wantUser {
				t.Fatalf("got %+v %v", user, ok)
			}
			if r.Header.Get("Authorization") != "" {
				t.Fatal("Authorization not removed before proxying")
			}
			if r.Header.Get("X-Auth-User") != "alice" || r.Header.Get("X-Auth-Method") != "jwt" ||
				r.Header.Get("X-Auth-Email") != "a@example.com" || r.Header.Get("X-Auth-Scope") != "read admin" {
				t.Fatalf("upstream headers %v", r.Header)
			}
			if id := IdentityOf(r); id == nil || !id.HasScope("admin") {
				t.Fatalf("identity %+v", id)
			}
		})
	}
}

// TestJWTClaimHeaderControlChars: a claim value that cannot be a header
// value is left out of the upstream headers; the request still passes.
func TestJWTClaimHeaderControlChars(t *testing.T) {
	j := provisionJWT(t, &JWTAuth{
		Secret:          testJWTSecret,
		Algorithms:      []string{"HS256"},
		IdentityHeaders: IdentityHeaders{Claims: map[string]string{"email": "X-Auth-Email"}},
	}, newTestStore(t))
	exp := time.Now().Add(time.Hour).Unix()
	for _, tc := range []struct{ name, email, want string }{
		{"plain", "a@example.com", "a@example.com"},
		{"CR LF", "a@example.com\r\nX-Evil: 1", ""},
		{"NUL", "a\x00@example.com", ""},
		{"tab", "a\t@example.com", "a\t@example.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := hs256(t, jwt.MapClaims{"sub": "alice", "exp": exp, "email": tc.email})
			r := authRequest("/jwt/x", "127.0.0.1", http.Header{"Authorization": {"Bearer " + tok}, "X-Auth-Email": {"forged"}})
			if _, ok, err := j.Authenticate(httptest.NewRecorder(), r); !ok || err != nil {
				t.Fatalf("refused: %v", err)
			}
			if got := r.Header.Get("X-Auth-Email"); got != tc.want {
				t.Fatalf("X-Auth-Email %q, want %q", got, tc.want)
			}
		})
	}
}

func TestJWTOptions(t *testing.T) {
	j := provisionJWT(t, &JWTAuth{
		Secret:         testJWTSecret,
		Header:         "X-Token",
		PassCredential: true,
		UserClaim:      "email",
		Realm:          "api",
	}, newTestStore(t))
	tok := hs256(t, jwt.MapClaims{"sub": "x", "email": "e@example.com", "exp": time.Now().Add(time.Hour).Unix()})
	for _, v := range []string{tok, "Bearer " + tok} {
		r := authRequest("/", "127.0.0.1", http.Header{"X-Token": {v}})
		user, ok, _ := j.Authenticate(httptest.NewRecorder(), r)
		if !ok || user.ID != "e@example.com" {
			t.Fatalf("%q: %+v %v", v, user, ok)
		}
		if r.Header.Get("X-Token") == "" {
			t.Fatal("pass_credential: header removed")
		}
	}
	r := authRequest("/", "127.0.0.1", nil)
	j.Authenticate(httptest.NewRecorder(), r)
	if got := recordedProblem(r).Header.Get("WWW-Authenticate"); got != `Bearer realm="api"` {
		t.Fatalf("challenge %q", got)
	}
}

func TestJWTRevocationStoreDownFailsClosed(t *testing.T) {
	j := provisionJWT(t, &JWTAuth{Secret: testJWTSecret}, downStore{newTestStore(t)})
	tok := hs256(t, jwt.MapClaims{"sub": "a", "exp": time.Now().Add(time.Hour).Unix(), "jti": "j"})
	r := authRequest("/", "127.0.0.1", http.Header{"Authorization": {"Bearer " + tok}})
	if _, ok, err := j.Authenticate(httptest.NewRecorder(), r); ok || err != nil {
		t.Fatalf("ok=%v err=%v", ok, err)
	}
	if p := recordedProblem(r); p.Status != http.StatusServiceUnavailable || p.Code != problem.CodeServiceUnavailable {
		t.Fatalf("problem %d %s", p.Status, p.Code)
	}
}

func TestJWTKeyFileAndEnvSecret(t *testing.T) {
	pub := filepath.Join(testutil.RepoRoot(), "examples", "demo-keys", "oidc-es256.pub.pem")
	provisionJWT(t, &JWTAuth{KeyFiles: []string{pub}}, newTestStore(t))
	t.Setenv("APIGW_TEST_JWT_SECRET", testJWTSecret)
	j := provisionJWT(t, &JWTAuth{Secret: "{env.APIGW_TEST_JWT_SECRET}"}, newTestStore(t))
	r := authRequest("/", "127.0.0.1", http.Header{"Authorization": {"Bearer " + hs256(t, jwt.MapClaims{"sub": "a", "exp": time.Now().Add(time.Hour).Unix()})}})
	if _, ok, _ := j.Authenticate(httptest.NewRecorder(), r); !ok {
		t.Fatal("secret from {env.*} not used")
	}
}

func TestJWTProvisionErrors(t *testing.T) {
	dir := t.TempDir()
	priv := filepath.Join(dir, "priv.pem")
	data, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), "examples", "demo-keys", "oidc-es256.key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(priv, data, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("APIGW_TEST_SHORT", "short")
	t.Setenv("APIGW_TEST_48", strings.Repeat("k", 48))
	neg := caddy.Duration(-time.Second)
	weakRSA := func(name string, bits, e int) string {
		k, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			t.Fatal(err)
		}
		pub := k.PublicKey
		pub.E = e
		der, err := x509.MarshalPKIXPublicKey(&pub)
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	for _, tc := range []struct {
		name string
		j    JWTAuth
		want string
	}{
		{"no key", JWTAuth{}, "no verification key"},
		{"short secret", JWTAuth{Secret: "short"}, "at least 32"},
		{"short secret from env", JWTAuth{Secret: "{env.APIGW_TEST_SHORT}"}, "at least 32"},
		{"unset env secret", JWTAuth{Secret: "{env.APIGW_TEST_UNSET_VAR}"}, "expanded to nothing"},
		{"none", JWTAuth{Secret: testJWTSecret, Algorithms: []string{"none"}}, `"none"`},
		{"HS and RS with only a secret", JWTAuth{Secret: testJWTSecret, Algorithms: []string{"HS256", "RS256"}}, "RS256 has no key"},
		{"jwks over http", JWTAuth{JWKSURL: "http://idp.example/jwks"}, "plain http"},
		{"jwks over http to a remote host even if allowed", JWTAuth{JWKSURL: "http://idp.example/jwks", JWKSAllowInsecureLoopback: true}, "non-loopback"},
		{"missing key file", JWTAuth{KeyFiles: []string{filepath.Join(dir, "nope.pem")}}, "key_file"},
		{"private key file", JWTAuth{KeyFiles: []string{priv}}, "private key"},
		{"negative leeway", JWTAuth{Secret: testJWTSecret, Leeway: &neg}, "leeway"},
		{"HS384 secret under 48 bytes", JWTAuth{Secret: strings.Repeat("k", 40), Algorithms: []string{"HS384"}}, "HS384 needs at least 48"},
		{"HS512 secret under 64 bytes", JWTAuth{Secret: strings.Repeat("k", 63), Algorithms: []string{"HS512"}}, "HS512 needs at least 64"},
		{"HS256 and HS512: the largest rule", JWTAuth{Secret: "{env.APIGW_TEST_48}", Algorithms: []string{"HS256", "HS512"}}, "HS512 needs at least 64"},
		{"RSA key file with exponent 1", JWTAuth{KeyFiles: []string{weakRSA("e1.pem", 2048, 1)}}, "exponent 1 is unsafe"},
		{"RSA key file with an even exponent", JWTAuth{KeyFiles: []string{weakRSA("e2.pem", 2048, 65536)}}, "exponent 65536 is unsafe"},
		{"RSA key file of 1024 bits", JWTAuth{KeyFiles: []string{weakRSA("short.pem", 1024, 65537)}}, "too short"},
		{"negative verified_cache_ttl", JWTAuth{Secret: testJWTSecret, VerifiedCacheTTL: &neg}, "verified_cache_ttl must not be negative"},
		{"negative verified_cache_size", JWTAuth{Secret: testJWTSecret, VerifiedCacheSize: -1}, "verified_cache_size must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := tc.j
			err := j.provision(zap.NewNop(), newTestStore(t))
			_ = j.Cleanup()
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "apigw_jwt: ") {
				t.Fatalf("err = %v, want apigw_jwt: ...%s", err, tc.want)
			}
		})
	}
}

// TestJWTRevokedWhileCached: the verified-token cache never skips the
// revocation check. A token is accepted (and cached), its jti is revoked,
// and the very same token is refused on the next request although the
// verifier still answers it from the cache. Requests also leave the
// shared cached claims untouched.
func TestJWTRevokedWhileCached(t *testing.T) {
	zero := caddy.Duration(0)
	for _, tc := range []struct {
		name       string
		ttl        *caddy.Duration
		wantCached bool
	}{
		{"default cache", nil, true},
		{"cache disabled", &zero, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newTestStore(t)
			j := provisionJWT(t, &JWTAuth{
				Secret:           testJWTSecret,
				VerifiedCacheTTL: tc.ttl,
				IdentityHeaders:  IdentityHeaders{Claims: map[string]string{"scope": "X-Auth-Scope"}},
			}, st)
			exp := time.Now().Add(time.Hour).Unix()
			tok := hs256(t, jwt.MapClaims{"sub": "alice", "exp": exp, "jti": "cached-1", "scope": "read", "aud": []string{"a", "b"}})
			authenticate := func() (*http.Request, bool) {
				t.Helper()
				r := authRequest("/jwt/x", "127.0.0.1", http.Header{"Authorization": {"Bearer " + tok}})
				_, ok, err := j.Authenticate(httptest.NewRecorder(), r)
				if err != nil {
					t.Fatal(err)
				}
				return r, ok
			}
			for range 2 {
				if _, ok := authenticate(); !ok {
					t.Fatal("valid token refused")
				}
			}
			a, err := j.verifier.Verify(tok)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := j.verifier.Verify(tok)
			cached := reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
			if cached != tc.wantCached {
				t.Fatalf("token served from the cache = %v, want %v", cached, tc.wantCached)
			}
			want := jwt.MapClaims{"sub": "alice", "exp": float64(exp), "jti": "cached-1", "scope": "read", "aud": []any{"a", "b"}}
			if !reflect.DeepEqual(map[string]any(a), map[string]any(want)) {
				t.Fatalf("claims changed by requests: %v", a)
			}

			if err := authn.NewRevocations(st).RevokeJTI(context.Background(), "cached-1", time.Unix(exp, 0)); err != nil {
				t.Fatal(err)
			}
			r, ok := authenticate()
			if ok {
				t.Fatal("revoked token accepted")
			}
			if p := recordedProblem(r); p.Code != problem.CodeTokenRevoked {
				t.Fatalf("problem %s %q, want %s", p.Code, p.Detail, problem.CodeTokenRevoked)
			}
			if c, _ := j.verifier.Verify(tok); tc.wantCached && reflect.ValueOf(c).UnsafePointer() != reflect.ValueOf(a).UnsafePointer() {
				t.Fatal("the revoked token was no longer cached: the test proved nothing")
			}
		})
	}
}
