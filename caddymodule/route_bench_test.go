package caddymodule

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"
	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap"

	"github.com/apigw/caddy-apigw/sessions"
	"github.com/apigw/caddy-apigw/store"
)

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

	hsTok := hs256(b, jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix(), "scope": "read write"})
	hsJWT := provisionJWT(b, &JWTAuth{Secret: testJWTSecret, Algorithms: []string{"HS256"}}, st)
	off := caddy.Duration(0)
	hsUncached := provisionJWT(b, &JWTAuth{Secret: testJWTSecret, Algorithms: []string{"HS256"}, VerifiedCacheTTL: &off}, st)

	mgr := sessions.NewManager(store.NewMemory(time.Hour), sessions.Config{})
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
