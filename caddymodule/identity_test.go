package caddymodule

import (
	"maps"
	"net/http/httptest"
	"testing"

	"github.com/apigw/caddy-apigw/authn"
)

// An identity published many times (from the token cache or a configured
// key) gets its headers and metadata built once, but each request's
// header values are its own: editing one in place changes no other
// request, and a client's X-Auth-* never survives.
func TestIdentityPublisherShared(t *testing.T) {
	p := NewIdentityPublisher(IdentityHeaders{User: "X-User", Claims: map[string]string{"scope": "X-Auth-Scope", "tier": "X-Tier", "bad": "X-Bad"}})
	id := &authn.Identity{ID: "alice", Method: "jwt", Scopes: []string{"read", "write"},
		Claims: map[string]any{"tier": "gold", "bad": "a\r\nb", "n": 1.0}}
	want := map[string]string{"X-User": "alice", "X-Auth-Method": "jwt", "X-Auth-Scope": "read write", "X-Tier": "gold", "X-Bad": ""}
	var first map[string]string
	for i := range 3 {
		r := httptest.NewRequest("GET", "/", nil)
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
		if u.ID != "alice" || u.Metadata["scope"] != "read write" || u.Metadata["tier"] != "gold" || u.Metadata["method"] != "jwt" {
			t.Fatalf("user %+v", u)
		}
		if i == 0 {
			first = u.Metadata
		} else if !maps.Equal(first, u.Metadata) {
			t.Fatal("metadata differs between publications")
		}
		r.Header["X-Tier"][0] = "edited" // a later handler editing in place
	}
}
