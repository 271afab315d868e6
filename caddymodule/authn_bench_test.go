package caddymodule

import (
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/golang-jwt/jwt/v5"

	"github.com/apigw/caddy-apigw/authn"
	"github.com/apigw/caddy-apigw/internal/testutil"
)

// BenchmarkAPIKeyAuthenticate measures the whole provider on the success
// path: header lookup, digest, constant-time compare, CIDR/expiry, the
// revocation check in the memory store, header stripping and publishing
// the identity; with the demo key and with a key of 43 characters (32
// random bytes in base64url, a common shape).
func BenchmarkAPIKeyAuthenticate(b *testing.B) {
	const long = "k3J9x0QyZs2Vb7NwLmP4aT8cRfE1uHgD6iOoYlKjW5q"
	for _, key := range []string{"demo-key-1", long} {
		b.Run(strconv.Itoa(len(key))+"_bytes", func(b *testing.B) {
			a := provisionAPIKey(b, &APIKeyAuth{Keys: []APIKey{{Hash: authn.HashKeyHex(key), User: "demo-user", ID: "demo-key-1", AllowCIDRs: []string{"127.0.0.0/8"}}}}, newTestStore(b))
			r := authRequest("/key/x", "127.0.0.1", nil)
			w := httptest.NewRecorder()
			keyHdr := []string{key}
			b.ReportAllocs()
			for b.Loop() {
				r.Header["X-Api-Key"] = keyHdr
				if _, ok, _ := a.Authenticate(w, r); !ok {
					b.Fatal("rejected")
				}
			}
		})
	}
}

// BenchmarkAPIKeyReject is the path of a wrong key (the audit entry is
// written to a disabled logger in benchmarks).
func BenchmarkAPIKeyReject(b *testing.B) {
	a := provisionAPIKey(b, &APIKeyAuth{Keys: []APIKey{{Hash: demoKeyHash, User: "demo-user"}}, DisableRuntimeKeys: true}, newTestStore(b))
	r := authRequest("/key/x", "127.0.0.1", http.Header{"X-Api-Key": {"wrong"}})
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		if _, ok, _ := a.Authenticate(w, r); ok {
			b.Fatal("accepted")
		}
	}
}

// BenchmarkJWTAuthenticate measures the provider on the success path with
// the verified-token cache on (the default: the same token again is a
// hit) and off ("/uncached": one full signature verification each time).
func BenchmarkJWTAuthenticate(b *testing.B) {
	keyPEM, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), "examples", "demo-keys", "oidc-es256.key.pem"))
	if err != nil {
		b.Fatal(err)
	}
	block, _ := pem.Decode(keyPEM)
	priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		b.Fatal(err)
	}
	claims := jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix(), "scope": "read write"}
	es, err := jwt.NewWithClaims(jwt.SigningMethodES256, claims).SignedString(priv)
	if err != nil {
		b.Fatal(err)
	}
	pub := filepath.Join(testutil.RepoRoot(), "examples", "demo-keys", "oidc-es256.pub.pem")
	off := caddy.Duration(0)
	for _, bc := range []struct {
		name  string
		j     *JWTAuth
		token string
	}{
		{"HS256", &JWTAuth{Secret: testJWTSecret}, hs256(b, claims)},
		{"ES256", &JWTAuth{KeyFiles: []string{pub}}, es},
		{"HS256/uncached", &JWTAuth{Secret: testJWTSecret, VerifiedCacheTTL: &off}, hs256(b, claims)},
		{"ES256/uncached", &JWTAuth{KeyFiles: []string{pub}, VerifiedCacheTTL: &off}, es},
	} {
		b.Run(bc.name, func(b *testing.B) {
			j := provisionJWT(b, bc.j, newTestStore(b))
			r := authRequest("/jwt/x", "127.0.0.1", nil)
			w := httptest.NewRecorder()
			auth := []string{"Bearer " + bc.token}
			b.ReportAllocs()
			for b.Loop() {
				r.Header["Authorization"] = auth
				if _, ok, _ := j.Authenticate(w, r); !ok {
					b.Fatal("rejected")
				}
			}
		})
	}
}
