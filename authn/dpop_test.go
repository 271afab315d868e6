package authn

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/apigw/caddy-apigw/store"
)

// testProofKey is a client's DPoP key pair with its public JWK.
type testProofKey struct {
	alg    string
	signer crypto.Signer
	jwk    map[string]any
	jkt    string
}

func newProofKey(t testing.TB, alg string) *testProofKey {
	t.Helper()
	var signer crypto.Signer
	switch alg {
	case "ES256":
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		signer = k
	case "EdDSA":
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		signer = k
	default:
		t.Fatalf("alg %s", alg)
	}
	pub := jose.JSONWebKey{Key: signer.Public()}
	raw, err := pub.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	jkt, err := JWKThumbprint(raw)
	if err != nil {
		t.Fatal(err)
	}
	return &testProofKey{alg: alg, signer: signer, jwk: m, jkt: jkt}
}

func (k *testProofKey) proof(t testing.TB, claims jwt.MapClaims, header map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.GetSigningMethod(k.alg), claims)
	tok.Header["typ"] = DPoPType
	tok.Header["jwk"] = k.jwk
	for h, v := range header {
		if v == nil {
			delete(tok.Header, h)
		} else {
			tok.Header[h] = v
		}
	}
	s, err := tok.SignedString(k.signer)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func ath(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func TestDPoPCheck(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	st := store.NewMemory(time.Minute)
	v, err := NewDPoPVerifier(DPoPConfig{Store: st, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	key := newProofKey(t, "ES256")
	other := newProofKey(t, "EdDSA")
	const token = "the.access.token"
	const url = "https://api.example.com/dpop/items"
	n := 0
	claims := func(edit func(jwt.MapClaims)) jwt.MapClaims {
		n++
		c := jwt.MapClaims{"jti": "id-" + time.Now().String() + string(rune('a'+n%26)) + strings.Repeat("x", n%7),
			"htm": "GET", "htu": url, "iat": now.Unix(), "ath": ath(token)}
		if edit != nil {
			edit(c)
		}
		return c
	}
	req := DPoPRequest{Method: "GET", URL: url, AccessToken: token, JKT: key.jkt}
	hmacProof := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims(nil))
		tok.Header["typ"] = DPoPType
		tok.Header["jwk"] = map[string]any{"kty": "oct", "k": "c2VjcmV0"}
		s, _ := tok.SignedString([]byte("secret"))
		return s
	}
	privJWK := func() map[string]any {
		pk := jose.JSONWebKey{Key: key.signer}
		raw, _ := pk.MarshalJSON()
		var m map[string]any
		_ = json.Unmarshal(raw, &m)
		return m
	}
	for _, tc := range []struct {
		name  string
		proof string
		req   *DPoPRequest
		code  string
	}{
		{"valid", key.proof(t, claims(nil), nil), nil, ""},
		{"valid EdDSA", other.proof(t, claims(nil), nil), &DPoPRequest{Method: "GET", URL: url, AccessToken: token, JKT: other.jkt}, ""},
		{"query and default port ignored", key.proof(t, claims(func(c jwt.MapClaims) { c["htu"] = "HTTPS://API.example.com:443/dpop/%69tems?x=1#f" }), nil), nil, ""},
		{"other key", other.proof(t, claims(nil), nil), nil, CodeInvalidToken},
		{"wrong htm", key.proof(t, claims(func(c jwt.MapClaims) { c["htm"] = "POST" }), nil), nil, CodeInvalidDPoPProof},
		{"wrong host", key.proof(t, claims(func(c jwt.MapClaims) { c["htu"] = "https://evil.example.com/dpop/items" }), nil), nil, CodeInvalidDPoPProof},
		{"wrong path", key.proof(t, claims(func(c jwt.MapClaims) { c["htu"] = "https://api.example.com/dpop/other" }), nil), nil, CodeInvalidDPoPProof},
		{"wrong scheme", key.proof(t, claims(func(c jwt.MapClaims) { c["htu"] = "http://api.example.com/dpop/items" }), nil), nil, CodeInvalidDPoPProof},
		{"stale", key.proof(t, claims(func(c jwt.MapClaims) { c["iat"] = now.Add(-61 * time.Second).Unix() }), nil), nil, CodeInvalidDPoPProof},
		{"future", key.proof(t, claims(func(c jwt.MapClaims) { c["iat"] = now.Add(61 * time.Second).Unix() }), nil), nil, CodeInvalidDPoPProof},
		{"iat string", key.proof(t, claims(func(c jwt.MapClaims) { c["iat"] = "1800000000" }), nil), nil, CodeInvalidDPoPProof},
		{"no iat", key.proof(t, claims(func(c jwt.MapClaims) { delete(c, "iat") }), nil), nil, CodeInvalidDPoPProof},
		{"no jti", key.proof(t, claims(func(c jwt.MapClaims) { delete(c, "jti") }), nil), nil, CodeInvalidDPoPProof},
		{"wrong ath", key.proof(t, claims(func(c jwt.MapClaims) { c["ath"] = ath("other") }), nil), nil, CodeInvalidDPoPProof},
		{"no ath", key.proof(t, claims(func(c jwt.MapClaims) { delete(c, "ath") }), nil), nil, CodeInvalidDPoPProof},
		{"typ JWT", key.proof(t, claims(nil), map[string]any{"typ": "JWT"}), nil, CodeInvalidDPoPProof},
		{"no jwk", key.proof(t, claims(nil), map[string]any{"jwk": nil}), nil, CodeInvalidDPoPProof},
		{"private jwk", key.proof(t, claims(nil), map[string]any{"jwk": privJWK()}), nil, CodeInvalidDPoPProof},
		{"jwk of another key", key.proof(t, claims(nil), map[string]any{"jwk": other.jwk}), nil, CodeInvalidDPoPProof},
		{"crit", key.proof(t, claims(nil), map[string]any{"crit": []string{"x"}}), nil, CodeInvalidDPoPProof},
		{"HS256", hmacProof(), nil, CodeInvalidDPoPProof},
		{"garbage", "not-a-jws", nil, CodeInvalidDPoPProof},
		{"two dots only", "a.b", nil, CodeInvalidDPoPProof},
		{"four parts", "a.b.c.d", nil, CodeInvalidDPoPProof},
		{"huge", strings.Repeat("a", MaxDPoPProofLen+1), nil, CodeInvalidDPoPProof},
		{"empty", "", nil, CodeInvalidDPoPProof},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := req
			if tc.req != nil {
				r = *tc.req
			}
			p, err := v.Check(context.Background(), tc.proof, r)
			if tc.code == "" {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				if p.JKT != r.JKT {
					t.Fatalf("JKT %q, want %q", p.JKT, r.JKT)
				}
				// the same proof again is a replay
				_, err = v.Check(context.Background(), tc.proof, r)
				if code, detail, _ := codeOf(err); code != CodeInvalidDPoPProof || !strings.Contains(detail, "already used") {
					t.Fatalf("replay: %v", err)
				}
				return
			}
			if code, _, _ := codeOf(err); code != tc.code {
				t.Fatalf("Check = %v, want code %s", err, tc.code)
			}
		})
	}
}

func TestDPoPConfig(t *testing.T) {
	st := store.NewMemory(time.Minute)
	for _, tc := range []struct {
		cfg DPoPConfig
		ok  bool
	}{
		{DPoPConfig{Store: st}, true},
		{DPoPConfig{Store: st, Algorithms: []string{"PS256", "ES384"}}, true},
		{DPoPConfig{}, false},
		{DPoPConfig{Store: st, Algorithms: []string{"HS256"}}, false},
		{DPoPConfig{Store: st, Algorithms: []string{"none"}}, false},
		{DPoPConfig{Store: st, MaxAge: -time.Second}, false},
	} {
		_, err := NewDPoPVerifier(tc.cfg)
		if (err == nil) != tc.ok {
			t.Errorf("%+v: err %v", tc.cfg.Algorithms, err)
		}
	}
}

func TestSplitDPoPHeader(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want string
		ok   bool
	}{
		{nil, "", true},
		{[]string{"a.b.c"}, "a.b.c", true},
		{[]string{" a.b.c "}, "a.b.c", true},
		{[]string{"a.b.c", "d.e.f"}, "", false},
		{[]string{"a.b.c, d.e.f"}, "", false},
		{[]string{""}, "", false},
		{[]string{strings.Repeat("x", MaxDPoPProofLen+1)}, "", false},
	} {
		got, err := SplitDPoPHeader(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("SplitDPoPHeader(%.20q) = %q, %v", tc.in, got, err)
		}
	}
}

func TestHTUMatches(t *testing.T) {
	for _, tc := range []struct {
		htu, req string
		want     bool
	}{
		{"https://a.example/x", "https://a.example/x", true},
		{"https://A.Example:443/x?q=1#f", "https://a.example/x", true},
		{"http://a.example:80/x", "http://a.example/x", true},
		{"http://a.example:8080/x", "http://a.example:8080/x", true},
		{"http://a.example:8080/x", "http://a.example/x", false},
		{"https://a.example", "https://a.example/", true},
		{"https://a.example/a/./b/../c", "https://a.example/a/c", true},
		{"https://a.example/%7euser/%2f", "https://a.example/~user/%2F", true},
		{"https://a.example/x", "https://a.example/y", false},
		{"https://a.example/x", "https://b.example/x", false},
		{"https://a.example/x", "http://a.example/x", false},
		{"https://u:p@a.example/x", "https://a.example/x", false},
		{"ftp://a.example/x", "ftp://a.example/x", false},
		{"/x", "/x", false},
		{"https://a.example/%zz", "https://a.example/%zz", false},
		{"http://[::1]:8080/x", "http://[::1]:8080/x", true},
	} {
		if got := HTUMatches(tc.htu, tc.req); got != tc.want {
			t.Errorf("HTUMatches(%q, %q) = %v", tc.htu, tc.req, got)
		}
	}
}

func TestDPoPNonces(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	st := store.NewMemory(time.Minute)
	clock := func() time.Time { return now }
	a, err := NewDPoPNonces(st, time.Minute, clock)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewDPoPNonces(st, time.Minute, clock) // another instance
	ctx := context.Background()
	n1, err := a.Current(ctx)
	if err != nil || n1 == "" {
		t.Fatalf("Current: %q %v", n1, err)
	}
	if n, _ := b.Current(ctx); n != n1 {
		t.Fatalf("instances disagree: %q vs %q", n, n1)
	}
	if ok, _ := b.Valid(ctx, n1); !ok {
		t.Fatal("current nonce refused")
	}
	if ok, _ := b.Valid(ctx, "made-up"); ok {
		t.Fatal("made-up nonce accepted")
	}
	now = now.Add(time.Minute)
	if ok, _ := a.Valid(ctx, n1); !ok {
		t.Fatal("previous window's nonce refused")
	}
	n2, _ := b.Current(ctx)
	if n2 == n1 {
		t.Fatal("nonce did not rotate")
	}
	now = now.Add(time.Minute)
	if ok, _ := a.Valid(ctx, n1); ok {
		t.Fatal("nonce two windows old accepted")
	}

	// the verifier asks for a nonce and accepts the current one
	v, _ := NewDPoPVerifier(DPoPConfig{Store: st, Nonces: a, Now: clock})
	key := newProofKey(t, "ES256")
	req := DPoPRequest{Method: "GET", URL: "https://a.example/x", AccessToken: "t", JKT: key.jkt}
	c := jwt.MapClaims{"jti": "1", "htm": "GET", "htu": req.URL, "iat": now.Unix(), "ath": ath("t")}
	_, err = v.Check(ctx, key.proof(t, c, nil), req)
	var nr *DPoPNonceRequired
	if code, _, _ := codeOf(err); code != CodeUseDPoPNonce || !errors.As(err, &nr) || nr.Nonce == "" {
		t.Fatalf("without nonce: %v", err)
	}
	c["nonce"] = nr.Nonce
	if _, err := v.Check(ctx, key.proof(t, c, nil), req); err != nil {
		t.Fatalf("with nonce: %v", err)
	}
}
