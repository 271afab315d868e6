package caddymodule

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/apigw/caddy-apigw/authn"
	"github.com/apigw/caddy-apigw/internal/testutil"
	"github.com/apigw/caddy-apigw/store"
)

// The integration tests below run the real gateway binary. They use
// testdata/authn_demo.caddyfile (this feature's routes of
// Caddyfile.example plus test-only routes), and Caddyfile.example itself
// once every directive in it is built in.

var demoKeysDir = filepath.Join(testutil.RepoRoot(), "examples", "demo-keys")

// demoConfigs returns the configs the demo-contract tests run against.
func demoConfigs(t *testing.T) map[string]string {
	t.Helper()
	cfgs := map[string]string{"authn_demo": filepath.Join("testdata", "authn_demo.caddyfile")}
	example := filepath.Join(testutil.RepoRoot(), "Caddyfile.example")
	out, err := exec.Command(testutil.CaddyBinary(t), "adapt", "--config", example, "--adapter", "caddyfile").CombinedOutput()
	switch {
	case err == nil:
		cfgs["Caddyfile.example"] = example
	case strings.Contains(string(out), "unrecognized directive"):
		t.Logf("Caddyfile.example not adaptable in this build yet (other features missing): %s", firstLine(string(out)))
	default:
		t.Fatalf("caddy adapt Caddyfile.example: %v\n%s", err, out)
	}
	return cfgs
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

type upstreamEcho struct {
	Headers map[string]string `json:"headers"`
}

type problemJSON struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail"`
	Code      string `json:"code"`
	RequestID string `json:"request_id"`
}

func get(t *testing.T, url string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// expectUpstream asserts a 200 from the demo upstream that saw user as
// X-Auth-User and no credential headers.
func expectUpstream(t *testing.T, resp *http.Response, body []byte, user, method string) {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var echo upstreamEcho
	if err := json.Unmarshal(body, &echo); err != nil {
		t.Fatalf("upstream answer %s: %v", body, err)
	}
	h := echo.Headers
	if h["x-auth-user"] != user || h["x-auth-method"] != method {
		t.Fatalf("upstream saw identity %q/%q, want %q/%q", h["x-auth-user"], h["x-auth-method"], user, method)
	}
	if h["x-api-key"] != "" || h["authorization"] != "" {
		t.Fatalf("upstream saw a credential: %s", body)
	}
}

// expectProblem asserts an RFC 9457 problem with code and the request id
// of the response header.
func expectProblem(t *testing.T, resp *http.Response, body []byte, status int, code string) problemJSON {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d: %s", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q", ct)
	}
	var p problemJSON
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("problem %s: %v", body, err)
	}
	if p.Code != code || p.Status != status || p.Type != "about:blank" || p.Title != http.StatusText(status) || p.Detail == "" {
		t.Fatalf("problem %+v, want %d %s", p, status, code)
	}
	if p.RequestID == "" || p.RequestID != resp.Header.Get("X-Request-ID") {
		t.Fatalf("request_id %q vs header %q", p.RequestID, resp.Header.Get("X-Request-ID"))
	}
	return p
}

func mintJose(t *testing.T, alg, key string, claims map[string]any, header map[string]any) string {
	t.Helper()
	c, _ := json.Marshal(claims)
	h := []byte("{}")
	if header != nil {
		h, _ = json.Marshal(header)
	}
	return testutil.Node(t, "mint.mjs", alg, key, string(c), string(h))
}

func TestDemoAuthn(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts the gateway")
	}
	for name, cfg := range demoConfigs(t) {
		t.Run(name, func(t *testing.T) { testDemoAuthn(t, cfg) })
	}
}

func testDemoAuthn(t *testing.T, config string) {
	c := testutil.StartCaddy(t, testutil.Options{Config: config})
	issuer := "http://127.0.0.1:" + strconv.Itoa(c.UpstreamPort)
	exp := time.Now().Add(10 * time.Minute).Unix()
	secret := "dev-only-jwt-secret-change-me-0123456789abcdef"

	t.Run("open", func(t *testing.T) {
		resp, body := get(t, c.URL("/open/x"), nil)
		expectUpstream(t, resp, body, "", "")
		// no route without authentication passes a client-sent identity
		resp, body = get(t, c.URL("/open/x"), map[string]string{"X-Auth-User": "admin", "X-Auth-Method": "jwt"})
		expectUpstream(t, resp, body, "", "")
	})

	t.Run("key", func(t *testing.T) {
		resp, body := get(t, c.URL("/key/x"), map[string]string{"X-API-Key": "demo-key-1", "X-Auth-User": "forged"})
		expectUpstream(t, resp, body, "demo-user", "api_key")

		resp, body = get(t, c.URL("/key/x"), nil)
		expectProblem(t, resp, body, 401, "missing_credentials")
		if got := resp.Header.Get("WWW-Authenticate"); got != `ApiKey header="X-API-Key"` {
			t.Fatalf("WWW-Authenticate %q", got)
		}
		resp, body = get(t, c.URL("/key/x"), map[string]string{"X-API-Key": "demo-key-2"})
		expectProblem(t, resp, body, 401, "invalid_api_key")
		resp, body = get(t, c.URL("/key/x"), map[string]string{"X-API-Key": "0b2c109e25ac7d47cc0c56f999832031c7391890ee1893f299b5df9a9256f1d1"})
		expectProblem(t, resp, body, 401, "invalid_api_key")
	})

	t.Run("jwt", func(t *testing.T) {
		joseTok := mintJose(t, "HS256", secret, map[string]any{"sub": "jose-user", "exp": exp}, nil)
		resp, body := get(t, c.URL("/jwt/x"), map[string]string{"Authorization": "Bearer " + joseTok})
		expectUpstream(t, resp, body, "jose-user", "jwt")

		ours, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "go-user", "exp": exp}).SignedString([]byte(secret))
		if err != nil {
			t.Fatal(err)
		}
		resp, body = get(t, c.URL("/jwt/x"), map[string]string{"Authorization": "Bearer " + ours})
		expectUpstream(t, resp, body, "go-user", "jwt")

		resp, body = get(t, c.URL("/jwt/x"), nil)
		expectProblem(t, resp, body, 401, "missing_credentials")
		if got := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, `Bearer realm=`) || strings.Contains(got, "error=") {
			t.Fatalf("WWW-Authenticate %q", got)
		}

		expired := mintJose(t, "HS256", secret, map[string]any{"sub": "a", "exp": time.Now().Add(-time.Hour).Unix()}, nil)
		resp, body = get(t, c.URL("/jwt/x"), map[string]string{"Authorization": "Bearer " + expired})
		expectProblem(t, resp, body, 401, "token_expired")
		if got := resp.Header.Get("WWW-Authenticate"); !strings.Contains(got, `error="invalid_token"`) || !strings.Contains(got, `error_description="token has expired"`) {
			t.Fatalf("WWW-Authenticate %q", got)
		}

		noExp := mintJose(t, "HS256", secret, map[string]any{"sub": "a"}, nil)
		resp, body = get(t, c.URL("/jwt/x"), map[string]string{"Authorization": "Bearer " + noExp})
		expectProblem(t, resp, body, 401, "invalid_token")

		wrongSecret := mintJose(t, "HS256", secret+"-other", map[string]any{"sub": "a", "exp": exp}, nil)
		resp, body = get(t, c.URL("/jwt/x"), map[string]string{"Authorization": "Bearer " + wrongSecret})
		expectProblem(t, resp, body, 401, "invalid_token")

		// an ES256 token (valid for /oidc) is refused by the HS256 route
		es := mintJose(t, "ES256", filepath.Join(demoKeysDir, "oidc-es256.key.pem"), map[string]any{"sub": "a", "exp": exp}, map[string]any{"kid": "demo-es256"})
		resp, body = get(t, c.URL("/jwt/x"), map[string]string{"Authorization": "Bearer " + es})
		expectProblem(t, resp, body, 401, "invalid_token")
	})

	t.Run("oidc", func(t *testing.T) {
		claims := map[string]any{"sub": "oidc-user", "exp": exp, "iss": issuer, "aud": []string{"other", "caddy-apigw-demo"}}
		for _, tc := range []struct{ alg, key, kid string }{
			{"ES256", "oidc-es256.key.pem", "demo-es256"},
			{"RS256", "oidc-rs256.key.pem", "demo-rs256"},
		} {
			tok := mintJose(t, tc.alg, filepath.Join(demoKeysDir, tc.key), claims, map[string]any{"kid": tc.kid})
			resp, body := get(t, c.URL("/oidc/x"), map[string]string{"Authorization": "Bearer " + tok})
			expectUpstream(t, resp, body, "oidc-user", "jwt")
		}
		for _, tc := range []struct {
			name   string
			claims map[string]any
		}{
			{"wrong audience", map[string]any{"sub": "u", "exp": exp, "iss": issuer, "aud": "someone-else"}},
			{"wrong issuer", map[string]any{"sub": "u", "exp": exp, "iss": "http://evil.example", "aud": "caddy-apigw-demo"}},
			{"no exp", map[string]any{"sub": "u", "iss": issuer, "aud": "caddy-apigw-demo"}},
		} {
			tok := mintJose(t, "ES256", filepath.Join(demoKeysDir, "oidc-es256.key.pem"), tc.claims, map[string]any{"kid": "demo-es256"})
			resp, body := get(t, c.URL("/oidc/x"), map[string]string{"Authorization": "Bearer " + tok})
			expectProblem(t, resp, body, 401, "invalid_token")
		}
		// an HS256 token made with the JWKS text as secret never passes
		hs := mintJose(t, "HS256", "any-secret-that-is-long-enough-0123456789", claims, map[string]any{"kid": "demo-es256"})
		resp, body := get(t, c.URL("/oidc/x"), map[string]string{"Authorization": "Bearer " + hs})
		expectProblem(t, resp, body, 401, "invalid_token")
	})

	t.Run("admin key listing shows no key", func(t *testing.T) {
		resp, body := get(t, c.AdminURL("/apigw/keys"), nil)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"user":"demo-user"`) {
			t.Fatalf("GET /apigw/keys: %d %s", resp.StatusCode, body)
		}
		for _, secretText := range []string{"demo-key-1", "0b2c109e25ac7d47cc0c56f999832031c7391890ee1893f299b5df9a9256f1d1"} {
			if strings.Contains(string(body), secretText) {
				t.Fatalf("GET /apigw/keys shows %q: %s", secretText, body)
			}
		}
	})

	t.Run("logs hold no credentials", func(t *testing.T) {
		log := c.Log.String()
		for _, secretText := range []string{"demo-key-1\"", "demo-key-2", secret, "eyJ"} {
			if strings.Contains(log, secretText) {
				t.Fatalf("log contains %q", secretText)
			}
		}
		if strings.Contains(log, `"level":"error"`) {
			t.Fatalf("error-level log for bad credentials:\n%s", log)
		}
	})
}

// TestDemoAuthnKeyLimits covers per-key expiry and CIDRs through Caddy
// (test-only routes of testdata/authn_demo.caddyfile).
func TestDemoAuthnKeyLimits(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts the gateway")
	}
	c := testutil.StartCaddy(t, testutil.Options{Config: filepath.Join("testdata", "authn_demo.caddyfile")})
	for _, path := range []string{"/key-expired/x", "/key-cidr/x"} {
		resp, body := get(t, c.URL(path), map[string]string{"X-API-Key": "demo-key-1"})
		expectProblem(t, resp, body, 401, "invalid_api_key")
	}
}

// rotatingJWKS is the test's own identity provider: a JWKS endpoint whose
// keys the test changes, counting fetches.
type rotatingJWKS struct {
	*httptest.Server
	mu   sync.Mutex
	keys []any
	hits atomic.Int32
}

func newRotatingJWKS(t *testing.T) *rotatingJWKS {
	j := &rotatingJWKS{}
	j.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		j.hits.Add(1)
		j.mu.Lock()
		defer j.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": j.keys})
	}))
	t.Cleanup(j.Close)
	return j
}

func (j *rotatingJWKS) add(k any) {
	j.mu.Lock()
	j.keys = append(j.keys, k)
	j.mu.Unlock()
}

// newES256 makes a P-256 key, writes its PKCS#8 PEM for jose and returns
// the path and its public JWK.
func newES256(t *testing.T, kid string) (string, map[string]any) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), kid+".pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	raw, err := k.PublicKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	return path, map[string]any{"kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256", "use": "sig", "x": b64(raw[1:33]), "y": b64(raw[33:])}
}

// TestDemoAuthnJWKSRotation: the /oidc route with APIGW_JWKS_URL pointing
// at the test's JWKS server. A key rotated in after startup works on its
// first use; URLs in token headers are never fetched; keys stay cached
// while the JWKS host is down.
func TestDemoAuthnJWKSRotation(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts the gateway")
	}
	idp := newRotatingJWKS(t)
	attacker := newRotatingJWKS(t)
	keyA, jwkA := newES256(t, "key-a")
	keyB, jwkB := newES256(t, "key-b")
	keyEvil, jwkEvil := newES256(t, "key-evil")
	idp.add(jwkA)
	attacker.add(jwkEvil)

	const issuer = "https://idp.test"
	c := testutil.StartCaddy(t, testutil.Options{
		Config: filepath.Join("testdata", "authn_demo.caddyfile"),
		Env:    []string{"APIGW_JWKS_URL=" + idp.URL + "/jwks.json", "APIGW_JWT_ISSUER=" + issuer},
	})
	claims := map[string]any{"sub": "rotated", "exp": time.Now().Add(10 * time.Minute).Unix(), "iss": issuer, "aud": "caddy-apigw-demo"}
	call := func(tok string) (*http.Response, []byte) {
		return get(t, c.URL("/oidc/x"), map[string]string{"Authorization": "Bearer " + tok})
	}
	// the provider fetches the key set at startup
	for idp.hits.Load() == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	resp, body := call(mintJose(t, "ES256", keyA, claims, map[string]any{"kid": "key-a"}))
	expectUpstream(t, resp, body, "rotated", "jwt")

	// rotate: key-b appears at the IdP; its first token works
	idp.add(jwkB)
	tokB := mintJose(t, "ES256", keyB, claims, map[string]any{"kid": "key-b"})
	resp, body = call(tokB)
	expectUpstream(t, resp, body, "rotated", "jwt")

	// a token naming its own key set (jku, x5u) or embedding its key (jwk)
	for _, h := range []map[string]any{
		{"kid": "key-evil", "jku": attacker.URL + "/jwks.json"},
		{"kid": "key-evil", "x5u": attacker.URL + "/cert.pem"},
		{"kid": "key-evil", "jwk": jwkEvil},
	} {
		resp, body = call(mintJose(t, "ES256", keyEvil, claims, h))
		expectProblem(t, resp, body, 401, "invalid_token")
	}
	if n := attacker.hits.Load(); n != 0 {
		t.Fatalf("a URL from a token header was fetched %d times", n)
	}

	// the IdP goes down: cached keys keep working
	idp.Close()
	resp, body = call(tokB)
	expectUpstream(t, resp, body, "rotated", "jwt")
}

// TestDemoAuthnSharedRedis: two gateways share one Redis. A runtime key
// works on both; revoking it, or a config key, stops it on both at once;
// with Redis down, key checks fail closed with 503.
func TestDemoAuthnSharedRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts the gateway and redis")
	}
	rd := testutil.StartRedis(t)
	env := []string{"APIGW_STORE=" + rd.URL(0)}
	cfg := filepath.Join("testdata", "authn_demo.caddyfile")
	g1 := testutil.StartCaddy(t, testutil.Options{Config: cfg, Env: env})
	g2 := testutil.StartCaddy(t, testutil.Options{Config: cfg, Env: env})

	st, err := store.Open(store.Config{Kind: "redis", URL: rd.URL(0)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	ks := authn.NewKeyStore(st)
	rec, key, err := ks.Create(ctx, authn.NewKey{User: "runtime-user"})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range []*testutil.Caddy{g1, g2} {
		resp, body := get(t, g.URL("/key/x"), map[string]string{"X-API-Key": key})
		expectUpstream(t, resp, body, "runtime-user", "api_key")
	}
	if found, err := ks.Revoke(ctx, rec.ID); !found || err != nil {
		t.Fatalf("revoke: %v %v", found, err)
	}
	// the config key's id is known to this process as it is to the gateways
	unregister := authn.RegisterConfigKeys("test", []authn.KeyRecord{{ID: "demo", User: "demo-user"}})
	defer unregister()
	if found, err := ks.Revoke(ctx, "demo"); !found || err != nil {
		t.Fatalf("revoke config key: %v %v", found, err)
	}
	for _, g := range []*testutil.Caddy{g1, g2} {
		for _, k := range []string{key, "demo-key-1"} {
			resp, body := get(t, g.URL("/key/x"), map[string]string{"X-API-Key": k})
			expectProblem(t, resp, body, 401, "invalid_api_key")
		}
	}

	rd.Stop()
	resp, body := get(t, g1.URL("/key/x"), map[string]string{"X-API-Key": "demo-key-1"})
	expectProblem(t, resp, body, 503, "service_unavailable")
}
