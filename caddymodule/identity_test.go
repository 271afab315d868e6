package caddymodule

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"

	"github.com/apigw/caddy-apigw/authn"
)

// userPlaceholder returns {http.auth.user.<name>} of r ("" if unset).
func userPlaceholder(r *http.Request, name string) string {
	repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if !ok {
		return ""
	}
	v, _ := repl.Get("http.auth.user." + name)
	s, _ := v.(string)
	return s
}

// An identity published many times (from the token cache or a configured
// key) gets its headers and metadata built once, but each request's
// header values are its own: editing one in place changes no other
// request, and a client's X-Auth-* never survives.
func TestIdentityPublisherShared(t *testing.T) {
	p := NewIdentityPublisher(IdentityHeaders{User: "X-User", Claims: map[string]string{"scope": "X-Auth-Scope", "tier": "X-Tier", "bad": "X-Bad"}})
	id := &authn.Identity{ID: "alice", Method: "jwt", Scopes: []string{"read", "write"},
		Claims: map[string]any{"tier": "gold", "bad": "a\r\nb", "n": 1.0}}
	want := map[string]string{"X-User": "alice", "X-Auth-Method": "jwt", "X-Auth-Scope": "read write", "X-Tier": "gold", "X-Bad": ""}
	wantMeta := map[string]string{"scope": "read write", "tier": "gold", "method": "jwt", "bad": "a\r\nb", "n": ""}
	for i := range 3 {
		r := httptest.NewRequest("GET", "/", nil)
		caddyhttp.NewTestReplacer(r)
		r.Header.Set("X-Auth-User", "mallory")
		r.Header.Set("X-Tier", "platinum")
		u := p.Publish(r, id)
		for h, v := range want {
			if got := r.Header.Get(h); got != v {
				t.Fatalf("request %d: %s = %q, want %q", i, h, got, v)
			}
		}
		if r.Header.Get("X-Auth-User") != "" {
			t.Fatalf("request %d: client X-Auth-User survived", i)
		}
		if u.ID != "alice" {
			t.Fatalf("user %+v", u)
		}
		for name, v := range wantMeta {
			if got := userPlaceholder(r, name); got != v {
				t.Fatalf("request %d: {http.auth.user.%s} = %q, want %q", i, name, got, v)
			}
		}
		r.Header["X-Tier"][0] = "edited" // a later handler editing in place
	}
}

// Through Caddy's authentication handler, the placeholders are those
// Caddy would set from a User carrying the metadata: {http.auth.user.id}
// and one per metadata entry, where a string "id" claim (metadata "id")
// overrides the user id, as Caddy's handler sets metadata after the id.
func TestIdentityPlaceholdersThroughCaddy(t *testing.T) {
	for _, tc := range []struct {
		name   string
		id     *authn.Identity
		wantID string
		meta   map[string]string
	}{
		{name: "api key", id: &authn.Identity{ID: "demo-user", Method: "api_key", Scopes: []string{"read", "write"},
			Claims: map[string]any{"key_id": "demo-key-1", "tier": "gold"}},
			wantID: "demo-user", meta: map[string]string{"method": "api_key", "scope": "read write", "key_id": "demo-key-1", "tier": "gold", "roles": ""}},
		{name: "jwt with roles", id: &authn.Identity{ID: "alice", Method: "jwt", Roles: []string{"admin"},
			Claims: map[string]any{"sub": "alice", "exp": 1.0, "method": "spoofed"}},
			wantID: "alice", meta: map[string]string{"method": "jwt", "roles": "admin", "sub": "alice", "exp": ""}},
		{name: "id claim", id: &authn.Identity{ID: "alice", Method: "jwt", Claims: map[string]any{"id": "a-1"}},
			wantID: "a-1", meta: map[string]string{"method": "jwt"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := NewIdentityPublisher(IdentityHeaders{})
			for i := range 2 { // built, then from the identity's cache
				r := httptest.NewRequest("GET", "/", nil)
				caddyhttp.NewTestReplacer(r)
				a := caddyauth.Authentication{Providers: map[string]caddyauth.Authenticator{"p": publishing{p, tc.id}}}
				if err := a.ServeHTTP(httptest.NewRecorder(), r, caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })); err != nil {
					t.Fatal(err)
				}
				if got := userPlaceholder(r, "id"); got != tc.wantID {
					t.Fatalf("%d: {http.auth.user.id} = %q, want %q", i, got, tc.wantID)
				}
				for name, v := range tc.meta {
					if got := userPlaceholder(r, name); got != v {
						t.Fatalf("%d: {http.auth.user.%s} = %q, want %q", i, name, got, v)
					}
				}
			}
		})
	}
}

// publishing is a provider that publishes id.
type publishing struct {
	p  *IdentityPublisher
	id *authn.Identity
}

func (a publishing) Authenticate(_ http.ResponseWriter, r *http.Request) (caddyauth.User, bool, error) {
	return a.p.Publish(r, a.id), true, nil
}
