package authn

import (
	"context"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// FuzzDPoPCheck: any DPoP header value is answered with a proof or a
// *DPoPError, never a panic or another error (the store here cannot fail).
func FuzzDPoPCheck(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	key := newProofKey(f, "ES256")
	const url = "https://a.example/x"
	f.Add(key.proof(f, jwt.MapClaims{"jti": "1", "htm": "GET", "htu": url, "iat": now.Unix(), "ath": ath("t")}, nil))
	f.Add(key.proof(f, jwt.MapClaims{"jti": 1, "htm": []int{1}, "htu": nil, "iat": "x"}, map[string]any{"jwk": "x"}))
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("a.b.c")
	f.Add("..")
	v, err := NewDPoPVerifier(DPoPConfig{Store: freshStore{}, Now: func() time.Time { return now }})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, proof string) {
		_, err := v.Check(context.Background(), proof, DPoPRequest{Method: "GET", URL: url, AccessToken: "t", JKT: key.jkt})
		if _, _, ok := codeOf(err); err != nil && !ok {
			t.Fatalf("error of type %T: %v", err, err)
		}
	})
}

// FuzzHTUMatches: normalisation never panics and a URI always matches
// itself when it is an http(s) URI at all.
func FuzzHTUMatches(f *testing.F) {
	for _, s := range []string{"https://a.example/x", "http://[::1]:80/a/../b?q#f", "https://a/%7e/%zz", "http://a:99999/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if _, ok := NormaliseHTU(s); ok && !HTUMatches(s, s) {
			t.Fatalf("%q does not match itself", s)
		}
	})
}
