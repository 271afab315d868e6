package authn

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/apigw/caddy-apigw/store"
)

// freshStore accepts every jti, so one proof can be checked b.N times: the
// benchmark measures the proof check itself (parse, key, signature,
// claims, thumbprint); the store's SetNX is measured in store/.
type freshStore struct{ store.Store }

func (freshStore) SetNX(context.Context, string, []byte, time.Duration) (bool, error) {
	return true, nil
}

func BenchmarkDPoPCheck(b *testing.B) {
	for _, alg := range []string{"ES256", "EdDSA"} {
		b.Run(alg, func(b *testing.B) {
			now := time.Now()
			v, err := NewDPoPVerifier(DPoPConfig{Store: freshStore{}, Now: func() time.Time { return now }})
			if err != nil {
				b.Fatal(err)
			}
			key := newProofKey(b, alg)
			const token = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln"
			req := DPoPRequest{Method: "GET", URL: "https://api.example.com/dpop/items", AccessToken: token, JKT: key.jkt}
			proof := key.proof(b, jwt.MapClaims{"jti": "bench", "htm": "GET", "htu": req.URL, "iat": now.Unix(), "ath": ath(token)}, nil)
			ctx := context.Background()
			if _, err := v.Check(ctx, proof, req); err != nil {
				b.Fatal(err)
			}
			b.Run("check", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := v.Check(ctx, proof, req); err != nil {
						b.Fatal(err)
					}
				}
			})
			// the signature verification alone, for scale: the rest of
			// the check is what the gateway adds
			b.Run("signature_only", func(b *testing.B) {
				dot := strings.LastIndexByte(proof, '.')
				sig, _ := base64.RawURLEncoding.DecodeString(proof[dot+1:])
				m := jwt.GetSigningMethod(alg)
				pub := key.signer.Public()
				b.ReportAllocs()
				for b.Loop() {
					if err := m.Verify(proof[:dot], sig, pub); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
