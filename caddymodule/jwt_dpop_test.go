package caddymodule

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"
	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap"

	"github.com/apigw/caddy-apigw/authn"
	"github.com/apigw/caddy-apigw/problem"
	"github.com/apigw/caddy-apigw/store"
)

func TestJWTDPoPProvisionErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		j    *JWTAuth
		want string
	}{
		{"empty mode", &JWTAuth{Secret: testJWTSecret, DPoP: &JWTDPoP{}}, "dpop.mode is empty"},
		{"unknown mode", &JWTAuth{Secret: testJWTSecret, DPoP: &JWTDPoP{Mode: "sometimes"}}, "unknown"},
		{"HS256 proofs", &JWTAuth{Secret: testJWTSecret, DPoP: &JWTDPoP{Mode: DPoPRequired, Algorithms: []string{"HS256"}}}, "asymmetric"},
		{"other header", &JWTAuth{Secret: testJWTSecret, Header: "X-Token", DPoP: &JWTDPoP{Mode: DPoPAllowed}}, "Authorization header"},
		{"nonce lifetime without nonces", &JWTAuth{Secret: testJWTSecret, DPoP: &JWTDPoP{Mode: DPoPAllowed, NonceLifetime: 1}}, "use_dpop_nonce"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.j.provision(zap.NewNop(), newTestStore(t))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("provision error %v, want %q", err, tc.want)
			}
		})
	}
}

// goProof makes a DPoP proof with golang-jwt and go-jose (the demo tests
// use npm dpop; this one exercises the allowed mode in process).
func goProof(t testing.TB, key *ecdsa.PrivateKey, htm, htu, token string) string {
	t.Helper()
	raw, _ := jose.JSONWebKey{Key: &key.PublicKey}.MarshalJSON()
	var jwk map[string]any
	_ = json.Unmarshal(raw, &jwk)
	sum := sha256.Sum256([]byte(token))
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"jti": time.Now().String(), "htm": htm, "htu": htu,
		"iat": time.Now().Unix(), "ath": base64.RawURLEncoding.EncodeToString(sum[:])})
	tok.Header["typ"] = "dpop+jwt"
	tok.Header["jwk"] = jwk
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// newDPoPKey returns a P-256 proof key and its RFC 7638 thumbprint (what
// a token bound to it carries as cnf.jkt).
func newDPoPKey(t testing.TB) (*ecdsa.PrivateKey, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := jose.JSONWebKey{Key: &key.PublicKey}.MarshalJSON()
	jkt, err := authn.JWKThumbprint(raw)
	if err != nil {
		t.Fatal(err)
	}
	return key, jkt
}

// benchDPoPAuthenticate measures auth on the success path for token
// presented with the DPoP scheme and one proof by key (the provider's
// store must be a replayBlindStore, so the proof serves every round).
func benchDPoPAuthenticate(b *testing.B, auth caddyauth.Authenticator, key *ecdsa.PrivateKey, token string) {
	proof := goProof(b, key, "GET", "http://example.com/api/x", token)
	r := authRequest("/api/x", "127.0.0.1", nil)
	w := httptest.NewRecorder()
	authz, dpop := []string{"DPoP " + token}, []string{proof}
	b.ReportAllocs()
	for b.Loop() {
		r.Header["Authorization"], r.Header["Dpop"] = authz, dpop
		if _, ok, _ := auth.Authenticate(w, r); !ok {
			b.Fatalf("rejected: %+v", recordedProblem(r))
		}
	}
}

func TestJWTDPoPAllowed(t *testing.T) {
	j := provisionJWT(t, &JWTAuth{Secret: testJWTSecret, Algorithms: []string{"HS256"}, DPoP: &JWTDPoP{Mode: DPoPAllowed}}, newTestStore(t))
	key, jkt := newDPoPKey(t)
	exp := time.Now().Add(time.Hour).Unix()
	plain := hs256(t, jwt.MapClaims{"sub": "alice", "exp": exp})
	bound := hs256(t, jwt.MapClaims{"sub": "bob", "exp": exp, "cnf": map[string]any{"jkt": jkt}})
	const url = "http://example.com/api/x"
	for _, tc := range []struct {
		name   string
		header http.Header
		user   string
		method string
		code   string
	}{
		{"unbound Bearer", http.Header{"Authorization": {"Bearer " + plain}}, "alice", "jwt", ""},
		{"bound DPoP", http.Header{"Authorization": {"DPoP " + bound}, "Dpop": {goProof(t, key, "GET", url, bound)}}, "bob", "dpop", ""},
		{"bound Bearer", http.Header{"Authorization": {"Bearer " + bound}}, "", "", problem.CodeInvalidToken},
		{"unbound DPoP", http.Header{"Authorization": {"DPoP " + plain}, "Dpop": {goProof(t, key, "GET", url, plain)}}, "", "", problem.CodeInvalidToken},
		{"bound DPoP without proof", http.Header{"Authorization": {"DPoP " + bound}}, "", "", problem.CodeInvalidDPoPProof},
		{"bound DPoP, proof for POST", http.Header{"Authorization": {"DPoP " + bound}, "Dpop": {goProof(t, key, "POST", url, bound)}}, "", "", problem.CodeInvalidDPoPProof},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := authRequest("/api/x", "127.0.0.1", tc.header)
			r.Host = "example.com"
			user, ok, err := j.Authenticate(httptest.NewRecorder(), r)
			if err != nil {
				t.Fatal(err)
			}
			if tc.code != "" {
				p := recordedProblem(r)
				if ok || p.Code != tc.code {
					t.Fatalf("ok %v, problem %s %q, want %s", ok, p.Code, p.Detail, tc.code)
				}
				return
			}
			if !ok || user.ID != tc.user || r.Header.Get("X-Auth-Method") != tc.method {
				t.Fatalf("got %+v %v (problem %+v)", user, ok, recordedProblem(r))
			}
			if r.Header.Get("Dpop") != "" || r.Header.Get("Authorization") != "" {
				t.Fatal("credentials not removed before proxying")
			}
		})
	}
	// no credentials: one challenge per accepted scheme
	r := authRequest("/api/x", "127.0.0.1", http.Header{})
	if _, ok, _ := j.Authenticate(httptest.NewRecorder(), r); ok {
		t.Fatal("accepted without credentials")
	}
	got := recordedProblem(r).Header.Values("WWW-Authenticate")
	if !slices.Equal(got, []string{`Bearer realm="caddy-apigw"`, `DPoP algs="ES256 RS256 EdDSA"`}) {
		t.Fatalf("WWW-Authenticate %q", got)
	}
}

// replayBlindStore accepts every proof id, so one proof serves b.N
// requests (the store's SetNX is benchmarked in store/).
type replayBlindStore struct{ *store.Memory }

func (replayBlindStore) SetNX(context.Context, string, []byte, time.Duration) (bool, error) {
	return true, nil
}

// BenchmarkJWTDPoPAuthenticate measures apigw_jwt with dpop required on
// the success path: token from the verified cache, cnf.jkt, the ES256
// proof check, header stripping and publishing the identity.
func BenchmarkJWTDPoPAuthenticate(b *testing.B) {
	j := &JWTAuth{Secret: testJWTSecret, Algorithms: []string{"HS256"}, DPoP: &JWTDPoP{Mode: DPoPRequired}}
	if err := j.provision(zap.NewNop(), replayBlindStore{newTestStore(b)}); err != nil {
		b.Fatal(err)
	}
	key, jkt := newDPoPKey(b)
	token := hs256(b, jwt.MapClaims{"sub": "bob", "exp": time.Now().Add(time.Hour).Unix(), "cnf": map[string]any{"jkt": jkt}})
	benchDPoPAuthenticate(b, j, key, token)
}
