package caddymodule

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"
	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap"

	"github.com/apigw/caddy-apigw/authn"
	"github.com/apigw/caddy-apigw/internal/testutil"
	"github.com/apigw/caddy-apigw/sessions"
)

// BenchmarkAPIKeyAuthenticate measures the whole provider on the success
// path: header lookup, digest, constant-time compare, CIDR/expiry, the
// revocation check in the memory store, header stripping and publishing
// the identity; with the demo key, with a key of 43 characters (32 random
// bytes in base64url, a common shape), and with a runtime key (created
// over the admin API: its record is read from the store every time).
func BenchmarkAPIKeyAuthenticate(b *testing.B) {
	const long = "k3J9x0QyZs2Vb7NwLmP4aT8cRfE1uHgD6iOoYlKjW5q"
	configured := func(key string) func(b *testing.B) (*APIKeyAuth, string) {
		return func(b *testing.B) (*APIKeyAuth, string) {
			return provisionAPIKey(b, &APIKeyAuth{Keys: []APIKey{{Hash: authn.HashKeyHex(key), User: "demo-user", ID: "demo-key-1", AllowCIDRs: []string{"127.0.0.0/8"}}}}, newTestStore(b)), key
		}
	}
	for _, bc := range []struct {
		name  string
		setup func(b *testing.B) (*APIKeyAuth, string)
	}{
		{"10_bytes", configured("demo-key-1")},
		{"43_bytes", configured(long)},
		{"runtime", func(b *testing.B) (*APIKeyAuth, string) {
			st := newTestStore(b)
			_, key, err := authn.NewKeyStore(st).Create(context.Background(), authn.NewKey{User: "svc-user", Scopes: []string{"read"}, Metadata: map[string]string{"tier": "gold"}})
			if err != nil {
				b.Fatal(err)
			}
			return provisionAPIKey(b, &APIKeyAuth{}, st), key
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			a, key := bc.setup(b)
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

// BenchmarkAuthRoute runs the authenticated routes of bench/Caddyfile.bench
// as Caddy does, minus the site-wide chain and reverse_proxy: Caddy's
// authentication handler with our provider (and, on /key, apigw_rate_limit
// keyed by {http.auth.user.id}), on a request that has, like every request
// Caddy serves, its own header map, vars and replacer. "setup" is that
// per-request preparation alone: subtract it from the others to get the
// cost of the route's handlers.
func BenchmarkAuthRoute(b *testing.B) {
	st := newTestStore(b)
	terminal := caddyhttp.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) error {
		w.WriteHeader(http.StatusOK)
		return nil
	})
	authRoute := func(name string, prov caddyauth.Authenticator, next caddyhttp.Handler) caddyhttp.Handler {
		a := caddyauth.Authentication{Providers: map[string]caddyauth.Authenticator{name: prov}}
		return caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error { return a.ServeHTTP(w, r, next) })
	}

	key := provisionAPIKey(b, &APIKeyAuth{Keys: []APIKey{{Hash: demoKeyHash, User: "demo-user", ID: "demo-key-1",
		Scopes: []string{"read", "write"}}}}, st)
	rl := newTestRateLimit(b, &RateLimit{Zones: []*RateLimitZone{{Name: "per_key", Key: "{http.auth.user.id}", Rate: "10000000/1m"}}}, nil, nil)
	limited := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error { return rl.ServeHTTP(w, r, terminal) })
	_, runtimeKey, kerr := authn.NewKeyStore(st).Create(context.Background(), authn.NewKey{User: "svc-user", Scopes: []string{"read"}, Metadata: map[string]string{"tier": "gold"}})
	if kerr != nil {
		b.Fatal(kerr)
	}

	hsTok := hs256(b, jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix(), "scope": "read write"})
	hsJWT := provisionJWT(b, &JWTAuth{Secret: testJWTSecret, Algorithms: []string{"HS256"}}, st)
	off := caddy.Duration(0)
	hsUncached := provisionJWT(b, &JWTAuth{Secret: testJWTSecret, Algorithms: []string{"HS256"}, VerifiedCacheTTL: &off}, st)

	mgr := sessions.NewManager(st, sessions.Config{})
	sessTok, _, err := mgr.Create(context.Background(), "demo", nil)
	if err != nil {
		b.Fatal(err)
	}
	sess := &SessionAuth{mgr: mgr, cookie: mgr.CookieName(), logger: zap.NewNop(), publisher: NewIdentityPublisher(IdentityHeaders{})}

	for _, bc := range []struct {
		name string
		h    caddyhttp.Handler
		hdr  http.Header
	}{
		{"setup", terminal, http.Header{"X-Api-Key": {"demo-key-1"}}},
		{"key", authRoute("apigw_api_key", key, limited), http.Header{"X-Api-Key": {"demo-key-1"}}},
		{"key/runtime", authRoute("apigw_api_key", key, limited), http.Header{"X-Api-Key": {runtimeKey}}},
		{"key/no_rate_limit", authRoute("apigw_api_key", key, terminal), http.Header{"X-Api-Key": {"demo-key-1"}}},
		{"jwt_hs256", authRoute("apigw_jwt", hsJWT, terminal), http.Header{"Authorization": {"Bearer " + hsTok}}},
		{"jwt_hs256/uncached", authRoute("apigw_jwt", hsUncached, terminal), http.Header{"Authorization": {"Bearer " + hsTok}}},
		{"session", authRoute("apigw_session", sess, terminal), http.Header{"Cookie": {"apigw_session=" + sessTok}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			tmpl := httptest.NewRequest(http.MethodGet, "/key/items", nil)
			for k, v := range bc.hdr {
				tmpl.Header[k] = v
			}
			w := &nopWriter{h: make(http.Header)}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				if err := bc.h.ServeHTTP(w, routeRequest(tmpl)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// routeRequest returns a copy of tmpl as Caddy's server hands it to the
// routes: its own header map, vars with the client IP, and a replacer.
func routeRequest(tmpl *http.Request) *http.Request {
	r := new(http.Request)
	*r = *tmpl
	r.Header = tmpl.Header.Clone()
	ctx := context.WithValue(tmpl.Context(), caddyhttp.VarsCtxKey, map[string]any{caddyhttp.ClientIPVarKey: "127.0.0.1"})
	ctx = context.WithValue(ctx, caddy.ReplacerCtxKey, caddy.NewReplacer())
	return r.WithContext(ctx)
}
