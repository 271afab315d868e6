package caddymodule

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/apigw/caddy-apigw/sessions"
	"github.com/apigw/caddy-apigw/store"
)

// BenchmarkSessionAfterLogin compares the apigw_session check of a session
// started by POST /login (apigw_login: scope and roles metadata) with one
// started by the OIDC callback (apigw_oidc: the demo's name and email
// metadata). Both are created by startSession, the one path every login
// takes, so the check costs the same.
func BenchmarkSessionAfterLogin(b *testing.B) {
	for _, bc := range []struct {
		name string
		user string
		meta map[string]string
	}{
		{"post_login", "demo", map[string]string{"scope": "read", "roles": "admin"}},
		{"oidc", "248289761001", map[string]string{"name": "Alice Example", "email": "alice@example.com"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			st := store.NewMemory(time.Hour)
			defer st.Close()
			mgr := sessions.NewManager(st, sessions.Config{})
			w := httptest.NewRecorder()
			token, _, p := startSession(w, sxReq("GET", "/auth/callback", ""), mgr, zap.NewNop(), bc.user, bc.meta)
			if p != nil {
				b.Fatal(p)
			}
			auth := &SessionAuth{mgr: mgr, cookie: mgr.CookieName(), logger: zap.NewNop(), publisher: NewIdentityPublisher(IdentityHeaders{})}
			cookie := "theme=dark; apigw_session=" + token
			r := httptest.NewRequest("GET", "/app/x", nil)
			r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				r.Header["Cookie"] = []string{cookie}
				if _, ok, _ := auth.Authenticate(w, r); !ok {
					b.Fatal("rejected")
				}
			}
		})
	}
}
