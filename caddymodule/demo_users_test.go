package caddymodule_test

import (
	"testing"

	"github.com/apigw/caddy-apigw/internal/testutil"
)

// TestDemoUsersMethods: the contract has only POST (body schema) and
// GET (query schema) on /users, so every other method is answered 405
// method_not_allowed with an Allow header, never proxied unvalidated;
// HEAD is validated like GET, and a CORS preflight still passes.
func TestDemoUsersMethods(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	c := testutil.StartCaddy(t, testutil.Options{Config: demoConfig(t)})
	users := c.URL("/users")
	for _, m := range []string{"PUT", "PATCH", "DELETE", "OPTIONS", "PURGE"} {
		t.Run(m, func(t *testing.T) {
			r := send(t, m, users, map[string]string{"Content-Type": "application/json"}, `{"email":"a@example.com","name":"A","role":"admin"}`)
			if r.status != 405 {
				t.Fatalf("%s /users: %d %s, want 405", m, r.status, r.body)
			}
			if p := r.problem(t); p.Code != "method_not_allowed" || p.Status != 405 {
				t.Fatalf("%s /users: problem %+v", m, p)
			}
			if got := r.header.Values("Allow"); len(got) != 1 || got[0] != "GET, HEAD, POST" {
				t.Fatalf("%s /users: Allow %q", m, got)
			}
			checkCommon(t, r)
		})
	}
	t.Run("HEAD is validated like GET", func(t *testing.T) {
		if r := send(t, "HEAD", users+"?limit=1000", nil, ""); r.status != 400 {
			t.Fatalf("HEAD /users?limit=1000: %d, want 400", r.status)
		}
		if r := send(t, "HEAD", users+"?limit=10", nil, ""); r.status != 200 {
			t.Fatalf("HEAD /users?limit=10: %d, want 200", r.status)
		}
	})
	t.Run("GET and POST still reach the upstream", func(t *testing.T) {
		if r := send(t, "GET", users, nil, ""); r.status != 200 {
			t.Fatalf("GET /users: %d %s", r.status, r.body)
		}
		if r := send(t, "POST", users, map[string]string{"Content-Type": "application/json"}, `{"email":"a@example.com","name":"A"}`); r.status != 200 {
			t.Fatalf("POST /users: %d %s", r.status, r.body)
		}
	})
	t.Run("CORS preflight for PUT still answered", func(t *testing.T) {
		pre := map[string]string{"Origin": "http://localhost:3000", "Access-Control-Request-Method": "PUT"}
		r := send(t, "OPTIONS", users, pre, "")
		if r.status != 204 || r.header.Get("Access-Control-Allow-Origin") != "http://localhost:3000" {
			t.Fatalf("preflight: %d %v", r.status, r.header)
		}
	})
}
