package authn

import (
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
)

func TestCheckHMACSecret(t *testing.T) {
	for _, tc := range []struct {
		n    int
		algs []string
		want string // "" = accepted
	}{
		{32, []string{"HS256"}, ""},
		{31, []string{"HS256"}, "HS256 needs at least 32"},
		{47, []string{"HS384"}, "HS384 needs at least 48"},
		{48, []string{"HS384"}, ""},
		{63, []string{"HS512"}, "HS512 needs at least 64"},
		{64, []string{"HS512"}, ""},
		{48, []string{"HS256", "HS384", "HS512"}, "HS512 needs at least 64"},
		{64, []string{"HS512", "HS256"}, ""},
		{32, nil, ""}, // default HS256
	} {
		err := CheckHMACSecret(tc.n, tc.algs)
		if (tc.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CheckHMACSecret(%d, %v) = %v, want %q", tc.n, tc.algs, err, tc.want)
		}
	}
	// the verifier applies it
	if _, err := NewJWTVerifier(JWTConfig{Secret: []byte(strings.Repeat("k", 40)), Algorithms: []string{"HS384"}}); err == nil {
		t.Error("HS384 with a 40-byte secret accepted")
	}
}

// TestPEMWeakRSARefused: the rules JWKS keys follow hold for key files.
func TestPEMWeakRSARefused(t *testing.T) {
	k := keys(t)
	for _, tc := range []struct {
		name string
		pub  rsa.PublicKey
		want string
	}{
		{"e=1", rsa.PublicKey{N: k.rsa.N, E: 1}, "exponent 1 is unsafe"},
		{"e=2", rsa.PublicKey{N: k.rsa.N, E: 2}, "exponent 2 is unsafe"},
		{"e=65536", rsa.PublicKey{N: k.rsa.N, E: 65536}, "exponent 65536 is unsafe"},
		{"1024 bits", rsa.PublicKey{N: k.rsa1024.N, E: 65537}, "too short"},
		{"e=3 is allowed", rsa.PublicKey{N: k.rsa.N, E: 3}, ""},
		{"e=65537", rsa.PublicKey{N: k.rsa.N, E: 65537}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pkix, err := x509.MarshalPKIXPublicKey(&tc.pub)
			if err != nil {
				t.Fatal(err)
			}
			for _, block := range []*pem.Block{
				{Type: "PUBLIC KEY", Bytes: pkix},
				{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&tc.pub)},
			} {
				_, err := ParsePublicKeyPEM(pem.EncodeToMemory(block))
				if tc.want == "" {
					if err != nil {
						t.Fatalf("%s: %v", block.Type, err)
					}
					continue
				}
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					// Go's x509 may refuse some of these itself: any
					// refusal is right, silence is not
					if err == nil {
						t.Fatalf("%s accepted", block.Type)
					}
				}
			}
			if _, err := NewJWTVerifier(JWTConfig{PublicKeys: []crypto.PublicKey{&tc.pub}}); (err == nil) != (tc.want == "") {
				t.Fatalf("NewJWTVerifier: %v", err)
			}
		})
	}
	// a JWKS refuses an even exponent too
	n := base64.RawURLEncoding.EncodeToString(k.rsa.N.Bytes())
	for _, e := range []int64{1, 2, 65536} {
		raw := `{"kty":"RSA","kid":"x","n":"` + n + `","e":"` + base64.RawURLEncoding.EncodeToString(big.NewInt(e).Bytes()) + `"}`
		if _, err := ParseJWK([]byte(raw)); err == nil {
			t.Errorf("JWKS accepted e=%d", e)
		}
	}
}
