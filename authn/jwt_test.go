package authn

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const testSecret = "test-secret-0123456789abcdef0123456789abcdef"

// testSecret64 is long enough for HS512 (RFC 7518 §3.2).
const testSecret64 = "test-secret-0123456789abcdef0123456789abcdef-0123456789abcdef-xyz"

// testKeys are generated once per test process.
type testKeys struct {
	rsa, rsa2        *rsa.PrivateKey
	p256, p384, p521 *ecdsa.PrivateKey
	ed               ed25519.PrivateKey
	rsa1024          *rsa.PrivateKey
}

var (
	keysOnce sync.Once
	tk       testKeys
)

func keys(t testing.TB) *testKeys {
	t.Helper()
	keysOnce.Do(func() {
		must := func(err error) {
			if err != nil {
				panic(err)
			}
		}
		var err error
		tk.rsa, err = rsa.GenerateKey(rand.Reader, 2048)
		must(err)
		tk.rsa2, err = rsa.GenerateKey(rand.Reader, 2048)
		must(err)
		tk.rsa1024, err = rsa.GenerateKey(rand.Reader, 1024)
		must(err)
		tk.p256, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		must(err)
		tk.p384, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		must(err)
		tk.p521, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
		must(err)
		_, tk.ed, err = ed25519.GenerateKey(rand.Reader)
		must(err)
	})
	return &tk
}

// sign mints a token with our own library (golang-jwt); header entries
// are added to the protected header.
func sign(t testing.TB, alg string, key any, claims jwt.MapClaims, header map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.GetSigningMethod(alg), claims)
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("signing %s: %v", alg, err)
	}
	return s
}

func claims(extra map[string]any) jwt.MapClaims {
	c := jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

func mustVerifier(t testing.TB, cfg JWTConfig) *JWTVerifier {
	t.Helper()
	v, err := NewJWTVerifier(cfg)
	if err != nil {
		t.Fatalf("NewJWTVerifier: %v", err)
	}
	return v
}

func expectReject(t *testing.T, v *JWTVerifier, token, code, detail string) {
	t.Helper()
	_, err := v.Verify(token)
	gotCode, gotDetail, ok := codeOf(err)
	if !ok {
		t.Fatalf("Verify accepted or failed oddly: %v", err)
	}
	if gotCode != code || (detail != "" && gotDetail != detail) {
		t.Fatalf("rejected with %s %q, want %s %q (err %v)", gotCode, gotDetail, code, detail, err)
	}
}

func TestJWTEveryAlgorithm(t *testing.T) {
	k := keys(t)
	for _, tc := range []struct {
		alg  string
		sign any
		pub  crypto.PublicKey
	}{
		{"HS256", []byte(testSecret), nil},
		{"HS384", []byte(testSecret64), nil},
		{"HS512", []byte(testSecret64), nil},
		{"RS256", k.rsa, &k.rsa.PublicKey},
		{"RS384", k.rsa, &k.rsa.PublicKey},
		{"RS512", k.rsa, &k.rsa.PublicKey},
		{"PS256", k.rsa, &k.rsa.PublicKey},
		{"PS384", k.rsa, &k.rsa.PublicKey},
		{"PS512", k.rsa, &k.rsa.PublicKey},
		{"ES256", k.p256, &k.p256.PublicKey},
		{"ES384", k.p384, &k.p384.PublicKey},
		{"ES512", k.p521, &k.p521.PublicKey},
		{"EdDSA", k.ed, k.ed.Public()},
	} {
		t.Run(tc.alg, func(t *testing.T) {
			cfg := JWTConfig{Algorithms: []string{tc.alg}}
			if tc.pub == nil {
				cfg.Secret = tc.sign.([]byte)
			} else {
				cfg.PublicKeys = []crypto.PublicKey{tc.pub}
			}
			v := mustVerifier(t, cfg)
			tok := sign(t, tc.alg, tc.sign, claims(map[string]any{"scope": "read write", "roles": []any{"admin"}, "email": "a@example.com"}), nil)
			c, err := v.Verify(tok)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			id, err := IdentityFromClaims(c, "")
			if err != nil {
				t.Fatal(err)
			}
			if id.ID != "alice" || id.Method != "jwt" || !id.HasScope("write") || !id.HasRole("admin") || id.Claims["email"] != "a@example.com" {
				t.Fatalf("identity %+v", id)
			}
			if _, ok := id.Claims["scope"]; ok {
				t.Fatal("scope left in Claims")
			}
			// a flipped signature byte fails
			bad := tok[:len(tok)-2] + flip(tok[len(tok)-2])
			expectReject(t, v, bad, CodeInvalidToken, "")
		})
	}
}

func flip(c byte) string {
	if c == 'A' {
		return "B" + "A"
	}
	return "A" + "A"
}

func TestJWTRejects(t *testing.T) {
	k := keys(t)
	now := time.Now()
	secret := []byte(testSecret)
	v := mustVerifier(t, JWTConfig{
		Secret:     secret,
		PublicKeys: []crypto.PublicKey{&k.rsa.PublicKey},
		Algorithms: []string{"HS256", "RS256"},
		Issuer:     "https://issuer.example",
		Audience:   []string{"api-a", "api-b"},
		Leeway:     30 * time.Second,
	})
	good := map[string]any{"iss": "https://issuer.example", "aud": "api-b"}
	with := func(m map[string]any) map[string]any {
		out := map[string]any{}
		for k, v := range good {
			out[k] = v
		}
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: mustPKIX(t, &k.rsa.PublicKey)})
	noneTok := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." +
		base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"alice","exp":9999999999,"iss":"https://issuer.example","aud":"api-a"}`)) + "."

	for _, tc := range []struct {
		name   string
		token  string
		code   string
		detail string
	}{
		{"none", noneTok, CodeInvalidToken, "token algorithm is not allowed"},
		{"none uppercase", strings.Replace(noneTok, base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)), base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"NONE","typ":"JWT"}`)), 1), CodeInvalidToken, "token algorithm is not allowed"},
		{"alg not in allow-list (HS512)", sign(t, "HS512", secret, claims(good), nil), CodeInvalidToken, "token algorithm is not allowed"},
		{"alg not in allow-list (ES256)", sign(t, "ES256", k.p256, claims(good), nil), CodeInvalidToken, "token algorithm is not allowed"},
		{"HS256 signed with the RSA public key (alg confusion)", sign(t, "HS256", pubPEM, claims(good), nil), CodeInvalidToken, "token signature is invalid"},
		{"RS256 by another key", sign(t, "RS256", k.rsa2, claims(good), nil), CodeInvalidToken, "token signature is invalid"},
		{"HS256 by another secret", sign(t, "HS256", []byte(testSecret+"x"), claims(good), nil), CodeInvalidToken, "token signature is invalid"},
		{"expired", sign(t, "HS256", secret, claims(with(map[string]any{"exp": now.Add(-time.Minute).Unix()})), nil), CodeTokenExpired, "token has expired"},
		{"nbf in the future", sign(t, "HS256", secret, claims(with(map[string]any{"nbf": now.Add(time.Minute).Unix()})), nil), CodeInvalidToken, "token is not valid yet"},
		{"iat in the future", sign(t, "HS256", secret, claims(with(map[string]any{"iat": now.Add(time.Minute).Unix()})), nil), CodeInvalidToken, "token was issued in the future"},
		{"no exp", sign(t, "HS256", secret, claims(with(map[string]any{"exp": nil})), nil), CodeInvalidToken, "token has no exp claim"},
		{"exp not a number", sign(t, "HS256", secret, claims(with(map[string]any{"exp": "tomorrow"})), nil), CodeInvalidToken, ""},
		{"wrong issuer", sign(t, "HS256", secret, claims(with(map[string]any{"iss": "https://evil.example"})), nil), CodeInvalidToken, "token issuer is not accepted"},
		{"no issuer", sign(t, "HS256", secret, claims(with(map[string]any{"iss": nil})), nil), CodeInvalidToken, "token has no iss claim"},
		{"wrong audience", sign(t, "HS256", secret, claims(with(map[string]any{"aud": []any{"api-c"}})), nil), CodeInvalidToken, "token audience is not accepted"},
		{"no audience", sign(t, "HS256", secret, claims(with(map[string]any{"aud": nil})), nil), CodeInvalidToken, "token has no aud claim"},
		{"malformed", "not.a.jwt", CodeInvalidToken, "token is malformed"},
		{"two parts", "abc.def", CodeInvalidToken, "token is malformed"},
		{"empty", "", CodeInvalidToken, "token is malformed"},
		{"too large", strings.Repeat("a", MaxTokenLen+1), CodeInvalidToken, "token is too large"},
		{"unknown alg", base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"XX999"}`)) + ".e30.", CodeInvalidToken, "token algorithm is not allowed"},
		{"crit header", sign(t, "HS256", secret, claims(good), map[string]any{"crit": []any{"exp"}, "exp": 1}), CodeInvalidToken, "token has unsupported critical header parameters"},
		{"alg header mismatch trick", sign(t, "HS256", secret, claims(good), map[string]any{"alg": "HS256 "}), CodeInvalidToken, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expectReject(t, v, tc.token, tc.code, tc.detail)
		})
	}

	for _, tc := range []struct {
		name  string
		extra map[string]any
	}{
		{"valid", nil},
		{"audience array one of several", map[string]any{"aud": []any{"x", "api-a"}}},
		{"expired within leeway", map[string]any{"exp": now.Add(-10 * time.Second).Unix()}},
		{"nbf within leeway", map[string]any{"nbf": now.Add(10 * time.Second).Unix()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := v.Verify(sign(t, "HS256", secret, claims(with(tc.extra)), nil)); err != nil {
				t.Fatalf("rejected: %v", err)
			}
			if _, err := v.Verify(sign(t, "RS256", k.rsa, claims(with(tc.extra)), nil)); err != nil {
				t.Fatalf("RS256 rejected: %v", err)
			}
		})
	}
}

func TestJWTAllowMissingExp(t *testing.T) {
	v := mustVerifier(t, JWTConfig{Secret: []byte(testSecret), AllowMissingExp: true})
	if _, err := v.Verify(sign(t, "HS256", []byte(testSecret), claims(map[string]any{"exp": nil}), nil)); err != nil {
		t.Fatalf("rejected: %v", err)
	}
	expectReject(t, v, sign(t, "HS256", []byte(testSecret), claims(map[string]any{"exp": time.Now().Add(-time.Hour).Unix()}), nil), CodeTokenExpired, "")
}

func TestJWTZeroLeeway(t *testing.T) {
	v := mustVerifier(t, JWTConfig{Secret: []byte(testSecret)})
	expectReject(t, v, sign(t, "HS256", []byte(testSecret), claims(map[string]any{"exp": time.Now().Add(-2 * time.Second).Unix()}), nil), CodeTokenExpired, "")
}

func TestIdentityFromClaims(t *testing.T) {
	for _, tc := range []struct {
		name      string
		claims    map[string]any
		userClaim string
		wantID    string
		scopes    []string
		wantErr   bool
	}{
		{"sub and scope string", map[string]any{"sub": "a", "scope": "x y"}, "", "a", []string{"x", "y"}, false},
		{"scp array", map[string]any{"sub": "a", "scp": []any{"x", "z"}}, "", "a", []string{"x", "z"}, false},
		{"scp array with a number", map[string]any{"sub": "a", "scp": []any{"x", 1, "z"}}, "", "", nil, true},
		{"scope wins over scp", map[string]any{"sub": "a", "scope": "x", "scp": "y"}, "", "a", []string{"x"}, false},
		{"custom user claim", map[string]any{"sub": "a", "email": "e@x"}, "email", "e@x", nil, false},
		{"no sub", map[string]any{"email": "e@x"}, "", "", nil, true},
		{"sub not a string", map[string]any{"sub": 42.0}, "", "", nil, true},
		{"empty sub", map[string]any{"sub": ""}, "", "", nil, true},
		{"sub with LF", map[string]any{"sub": "a\nX-Auth-Method: admin"}, "", "", nil, true},
		{"sub with CR", map[string]any{"sub": "a\rb"}, "", "", nil, true},
		{"sub with NUL", map[string]any{"sub": "a\x00b"}, "", "", nil, true},
		{"sub with DEL", map[string]any{"sub": "a\x7fb"}, "", "", nil, true},
		{"sub with tab and UTF-8", map[string]any{"sub": "ann\tmüller"}, "", "ann\tmüller", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := IdentityFromClaims(tc.claims, tc.userClaim)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("accepted: %+v", id)
				}
				return
			}
			if err != nil || id.ID != tc.wantID || strings.Join(id.Scopes, ",") != strings.Join(tc.scopes, ",") {
				t.Fatalf("got %+v, %v", id, err)
			}
		})
	}
}

func TestNewJWTVerifierRejects(t *testing.T) {
	k := keys(t)
	for _, tc := range []struct {
		name string
		cfg  JWTConfig
		want string
	}{
		{"no key", JWTConfig{}, "no verification key"},
		{"short secret", JWTConfig{Secret: []byte("short")}, "at least 32"},
		{"none", JWTConfig{Secret: []byte(testSecret), Algorithms: []string{"none"}}, `"none" is never allowed`},
		{"unknown alg", JWTConfig{Secret: []byte(testSecret), Algorithms: []string{"HS1"}}, "unknown algorithm"},
		{"HS without secret", JWTConfig{PublicKeys: []crypto.PublicKey{&k.rsa.PublicKey}, Algorithms: []string{"RS256", "HS256"}}, "needs a secret"},
		{"RS without key", JWTConfig{Secret: []byte(testSecret), Algorithms: []string{"HS256", "RS256"}}, "has no key"},
		{"ES384 with a P-256 key", JWTConfig{PublicKeys: []crypto.PublicKey{&k.p256.PublicKey}, Algorithms: []string{"ES384"}}, "has no key"},
		{"secret but no HS alg", JWTConfig{Secret: []byte(testSecret), PublicKeys: []crypto.PublicKey{&k.rsa.PublicKey}, Algorithms: []string{"RS256"}}, "no HS algorithm"},
		{"RSA 1024", JWTConfig{PublicKeys: []crypto.PublicKey{&k.rsa1024.PublicKey}}, "too short"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewJWTVerifier(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestKeyFitsAlg(t *testing.T) {
	k := keys(t)
	for _, tc := range []struct {
		key  any
		alg  string
		want bool
	}{
		{[]byte("s"), "HS256", true},
		{[]byte("s"), "RS256", false},
		{&k.rsa.PublicKey, "RS256", true},
		{&k.rsa.PublicKey, "PS512", true},
		{&k.rsa.PublicKey, "HS256", false},
		{&k.rsa.PublicKey, "ES256", false},
		{&k.p256.PublicKey, "ES256", true},
		{&k.p256.PublicKey, "ES384", false},
		{&k.p384.PublicKey, "ES384", true},
		{&k.p521.PublicKey, "ES512", true},
		{k.ed.Public(), "EdDSA", true},
		{k.ed.Public(), "ES256", false},
		{"string", "HS256", false},
	} {
		if got := KeyFitsAlg(tc.key, tc.alg); got != tc.want {
			t.Errorf("KeyFitsAlg(%T, %s) = %v", tc.key, tc.alg, got)
		}
	}
}

func TestParsePublicKeyPEM(t *testing.T) {
	k := keys(t)
	pkix := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: mustPKIX(t, &k.p256.PublicKey)})
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey)})
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.ed.Public(), k.ed)
	if err != nil {
		t.Fatal(err)
	}
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	priv, _ := x509.MarshalPKCS8PrivateKey(k.p256)
	privPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: priv})
	for _, tc := range []struct {
		name    string
		data    []byte
		wantAlg string
	}{
		{"pkix ec", pkix, "ES256"},
		{"pkcs1 rsa", pkcs1, "RS256"},
		{"certificate ed25519", cert, "EdDSA"},
		{"private key", privPEM, ""},
		{"garbage", []byte("hello"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key, err := ParsePublicKeyPEM(tc.data)
			if tc.wantAlg == "" {
				if err == nil {
					t.Fatal("accepted")
				}
				return
			}
			if err != nil || defaultAlg(key) != tc.wantAlg {
				t.Fatalf("got %T, %v", key, err)
			}
		})
	}
}

func mustPKIX(t testing.TB, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// ---------------------------------------------------------------- JWKS

func jwkOf(t testing.TB, kid, alg string, pub crypto.PublicKey) map[string]any {
	t.Helper()
	b64 := base64.RawURLEncoding.EncodeToString
	m := map[string]any{"kid": kid, "use": "sig"}
	if alg != "" {
		m["alg"] = alg
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		m["kty"] = "RSA"
		m["n"] = b64(k.N.Bytes())
		m["e"] = b64(big.NewInt(int64(k.E)).Bytes())
	case *ecdsa.PublicKey:
		m["kty"] = "EC"
		m["crv"] = k.Curve.Params().Name
		raw, err := k.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		size := (len(raw) - 1) / 2
		m["x"] = b64(raw[1 : 1+size])
		m["y"] = b64(raw[1+size:])
	case ed25519.PublicKey:
		m["kty"] = "OKP"
		m["crv"] = "Ed25519"
		m["x"] = b64(k)
	}
	return m
}

// jwksServer serves whatever keys it currently holds and counts hits.
type jwksServer struct {
	*httptest.Server
	mu   sync.Mutex
	keys []map[string]any
	hits atomic.Int32
	down atomic.Bool
}

func newJWKSServer(t testing.TB, keys ...map[string]any) *jwksServer {
	s := &jwksServer{keys: keys}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		if s.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": s.keys})
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(keys ...map[string]any) {
	s.mu.Lock()
	s.keys = keys
	s.mu.Unlock()
}

// fakeClock is a settable clock for cooldown tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newTestJWKS(t testing.TB, url string) (*JWKS, *fakeClock) {
	t.Helper()
	j, err := NewJWKS(url, JWKSOptions{AllowInsecureLoopback: true, RefreshInterval: -1, Cooldown: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(j.Stop)
	clk := &fakeClock{t: time.Now()}
	j.now = clk.now
	return j, clk
}

func TestJWKSRotationCooldownAndOutage(t *testing.T) {
	k := keys(t)
	srv := newJWKSServer(t, jwkOf(t, "old", "RS256", &k.rsa.PublicKey))
	j, clk := newTestJWKS(t, srv.URL)
	v := mustVerifier(t, JWTConfig{JWKS: j, Algorithms: []string{"RS256", "ES256"}})
	tokOld := sign(t, "RS256", k.rsa, claims(nil), map[string]any{"kid": "old"})

	// first use fetches
	if _, err := v.Verify(tokOld); err != nil {
		t.Fatalf("old key: %v", err)
	}
	if got := srv.hits.Load(); got != 1 {
		t.Fatalf("fetches after first token = %d, want 1", got)
	}
	// cached: no refetch
	if _, err := v.Verify(tokOld); err != nil || srv.hits.Load() != 1 {
		t.Fatalf("cached verify: %v, hits %d", err, srv.hits.Load())
	}

	// rotation: a new kid works on its first use, with one refetch
	clk.add(31 * time.Second)
	srv.set(jwkOf(t, "old", "RS256", &k.rsa.PublicKey), jwkOf(t, "new", "ES256", &k.p256.PublicKey))
	tokNew := sign(t, "ES256", k.p256, claims(nil), map[string]any{"kid": "new"})
	if _, err := v.Verify(tokNew); err != nil {
		t.Fatalf("rotated-in key on first use: %v", err)
	}
	if got := srv.hits.Load(); got != 2 {
		t.Fatalf("fetches after rotation = %d, want 2", got)
	}

	// unknown kids within the cooldown trigger no more fetches
	for i := 0; i < 5; i++ {
		bogus := sign(t, "ES256", k.p256, claims(nil), map[string]any{"kid": "bogus"})
		expectReject(t, v, bogus, CodeInvalidToken, "token signing key is unknown")
	}
	if got := srv.hits.Load(); got != 2 {
		t.Fatalf("fetches during cooldown = %d, want 2", got)
	}
	// after the cooldown one more
	clk.add(31 * time.Second)
	expectReject(t, v, sign(t, "RS256", k.rsa2, claims(nil), map[string]any{"kid": "bogus"}), CodeInvalidToken, "")
	if got := srv.hits.Load(); got != 3 {
		t.Fatalf("fetches after cooldown = %d, want 3", got)
	}

	// the JWKS host goes down: a refetch fails, cached keys keep working
	srv.down.Store(true)
	clk.add(31 * time.Second)
	expectReject(t, v, sign(t, "RS256", k.rsa2, claims(nil), map[string]any{"kid": "other"}), CodeInvalidToken, "")
	if got := srv.hits.Load(); got != 4 {
		t.Fatalf("fetches with host down = %d, want 4", got)
	}
	for _, tok := range []string{tokOld, tokNew} {
		if _, err := v.Verify(tok); err != nil {
			t.Fatalf("cached key lost while JWKS host is down: %v", err)
		}
	}
	srv.Close()
	clk.add(31 * time.Second)
	expectReject(t, v, sign(t, "RS256", k.rsa2, claims(nil), map[string]any{"kid": "x"}), CodeInvalidToken, "")
	if _, err := v.Verify(tokNew); err != nil {
		t.Fatalf("cached key lost with JWKS host gone: %v", err)
	}
}

func TestJWKSHeaderURLsNeverFetched(t *testing.T) {
	k := keys(t)
	srv := newJWKSServer(t, jwkOf(t, "good", "RS256", &k.rsa.PublicKey))
	attacker := newJWKSServer(t, jwkOf(t, "evil", "RS256", &k.rsa2.PublicKey))
	j, _ := newTestJWKS(t, srv.URL)
	v := mustVerifier(t, JWTConfig{JWKS: j, Algorithms: []string{"RS256"}})
	evilJWK := jwkOf(t, "evil", "RS256", &k.rsa2.PublicKey)
	for _, tc := range []struct {
		name   string
		header map[string]any
	}{
		{"jku", map[string]any{"kid": "evil", "jku": attacker.URL}},
		{"x5u", map[string]any{"kid": "evil", "x5u": attacker.URL}},
		{"embedded jwk", map[string]any{"kid": "evil", "jwk": evilJWK}},
		{"embedded jwk, no kid", map[string]any{"jwk": evilJWK}},
		{"jku with a known kid", map[string]any{"kid": "good", "jku": attacker.URL}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := sign(t, "RS256", k.rsa2, claims(nil), tc.header)
			expectReject(t, v, tok, CodeInvalidToken, "")
		})
	}
	if got := attacker.hits.Load(); got != 0 {
		t.Fatalf("attacker's URL was fetched %d times", got)
	}
}

func TestJWKSKeyAlgIsPinned(t *testing.T) {
	k := keys(t)
	srv := newJWKSServer(t,
		jwkOf(t, "rs", "RS256", &k.rsa.PublicKey),
		map[string]any{"kid": "oct", "kty": "oct", "k": base64.RawURLEncoding.EncodeToString([]byte(testSecret))},
	)
	j, _ := newTestJWKS(t, srv.URL)
	v := mustVerifier(t, JWTConfig{JWKS: j, Algorithms: []string{"RS256", "PS256"}})
	// the key is declared RS256: a PS256 token by the same key is refused
	expectReject(t, v, sign(t, "PS256", k.rsa, claims(nil), map[string]any{"kid": "rs"}), CodeInvalidToken, "token signing key is unknown")
	if _, err := v.Verify(sign(t, "RS256", k.rsa, claims(nil), map[string]any{"kid": "rs"})); err != nil {
		t.Fatal(err)
	}
	// a token without kid is tried against the fitting keys
	if _, err := v.Verify(sign(t, "RS256", k.rsa, claims(nil), nil)); err != nil {
		t.Fatalf("no kid: %v", err)
	}
	// symmetric keys from a remote set are never used
	v2 := mustVerifier(t, JWTConfig{JWKS: j, Secret: []byte("another-secret-0123456789abcdef0123456789"), Algorithms: []string{"HS256", "RS256"}})
	expectReject(t, v2, sign(t, "HS256", []byte(testSecret), claims(nil), map[string]any{"kid": "oct"}), CodeInvalidToken, "token signature is invalid")
}

func TestCheckJWKSURL(t *testing.T) {
	for _, tc := range []struct {
		url   string
		allow bool
		ok    bool
	}{
		{"https://idp.example/.well-known/jwks.json", false, true},
		{"http://idp.example/jwks", false, false},
		{"http://idp.example/jwks", true, false},
		{"http://127.0.0.1:9000/jwks", false, false},
		{"http://127.0.0.1:9000/jwks", true, true},
		{"http://[::1]:9000/jwks", true, true},
		{"http://localhost:9000/jwks", true, true},
		{"http://127.0.0.1.nip.io/jwks", true, false},
		{"file:///etc/passwd", true, false},
		{"https://", false, false},
		{"://bad", false, false},
	} {
		err := CheckJWKSURL(tc.url, tc.allow)
		if (err == nil) != tc.ok {
			t.Errorf("CheckJWKSURL(%q, %v) = %v", tc.url, tc.allow, err)
		}
	}
}

func TestParseJWKS(t *testing.T) {
	k := keys(t)
	good := jwkOf(t, "a", "", &k.p256.PublicKey)
	enc := func(keys ...any) []byte { b, _ := json.Marshal(map[string]any{"keys": keys}); return b }
	badCurve := jwkOf(t, "b", "", &k.p256.PublicKey)
	badCurve["x"] = base64.RawURLEncoding.EncodeToString(make([]byte, 32))
	short := jwkOf(t, "c", "", &k.rsa1024.PublicKey)
	enc2 := jwkOf(t, "d", "", &k.rsa.PublicKey)
	enc2["use"] = "enc"
	for _, tc := range []struct {
		name  string
		data  []byte
		nkeys int
	}{
		{"one good key", enc(good), 1},
		{"bad point skipped", enc(good, badCurve), 1},
		{"short RSA skipped", enc(short, good), 1},
		{"enc key skipped", enc(enc2, good), 1},
		{"only bad", enc(badCurve), 0},
		{"not json", []byte("<html>"), 0},
		{"empty", enc(), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keys, err := ParseJWKS(tc.data)
			if tc.nkeys == 0 {
				if err == nil {
					t.Fatalf("accepted: %+v", keys)
				}
				return
			}
			if err != nil || len(keys) != tc.nkeys {
				t.Fatalf("got %d keys, %v", len(keys), err)
			}
		})
	}
}

// TestJWKSConcurrentUnknownKid: a burst of tokens with unknown kids costs
// one fetch, and the rotated-in key they carry works for all of them.
func TestJWKSConcurrentUnknownKid(t *testing.T) {
	k := keys(t)
	srv := newJWKSServer(t, jwkOf(t, "new", "ES256", &k.p256.PublicKey))
	j, _ := newTestJWKS(t, srv.URL)
	v := mustVerifier(t, JWTConfig{JWKS: j, Algorithms: []string{"ES256"}})
	tok := sign(t, "ES256", k.p256, claims(nil), map[string]any{"kid": "new"})
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := v.Verify(tok); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent verify: %v", err)
	}
	if got := srv.hits.Load(); got != 1 {
		t.Fatalf("fetches = %d, want 1", got)
	}
}
