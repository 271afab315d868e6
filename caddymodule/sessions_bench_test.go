package caddymodule

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/apigw/caddy-apigw/authn"
	"github.com/apigw/caddy-apigw/sessions"
	"github.com/apigw/caddy-apigw/store"
)

// BenchmarkSessionAuthenticate measures the apigw_session provider on a
// valid cookie with the memory store: cookie parsing, lookup, identity
// publishing and cookie stripping.
func BenchmarkSessionAuthenticate(b *testing.B) {
	st := store.NewMemory(time.Hour)
	defer st.Close()
	mgr := sessions.NewManager(st, sessions.Config{})
	token, _, err := mgr.Create(context.Background(), "bench", nil)
	if err != nil {
		b.Fatal(err)
	}
	auth := &SessionAuth{mgr: mgr, cookie: mgr.CookieName(), logger: zap.NewNop(), publisher: NewIdentityPublisher(IdentityHeaders{})}
	cookie := "theme=dark; apigw_session=" + token
	r := httptest.NewRequest("GET", "/session/x", nil)
	repl := caddy.NewReplacer()
	r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl))
	w := httptest.NewRecorder()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.Header["Cookie"] = []string{cookie}
		if _, ok, _ := auth.Authenticate(w, r); !ok {
			b.Fatal("rejected")
		}
	}
}

// BenchmarkAuthorizeScope measures apigw_authorize on a granted scope.
func BenchmarkAuthorizeScope(b *testing.B) {
	a := &Authorize{Scopes: []string{"admin"}, logger: zap.NewNop()}
	r := httptest.NewRequest("GET", "/jwt/admin/x", nil)
	caddyhttp.NewTestReplacer(r)
	PublishIdentity(r, &authn.Identity{ID: "u", Method: "jwt", Scopes: []string{"read", "admin"}}, IdentityHeaders{})
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := a.ServeHTTP(nil, r, next); err != nil {
			b.Fatal(err)
		}
	}
}
