package caddymodule_test

import (
	"net/http"
	"testing"

	"github.com/apigw/caddy-apigw/internal/testutil"
)

// TestDemoOriginSpellings: an Origin that no browser serialises is not
// an allowed origin, whatever Canonical would make of it, and a request
// naming two Origins (or two Referers, two Sec-Fetch-Sites) is refused
// before CORS or CSRF read the first one.
func TestDemoOriginSpellings(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	c := testutil.StartCaddy(t, testutil.Options{Config: demoConfig(t)})
	preflight := func(t *testing.T, origins ...string) *http.Response {
		t.Helper()
		req, err := http.NewRequest("OPTIONS", c.URL("/open/items"), nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range origins {
			req.Header.Add("Origin", o)
		}
		req.Header.Set("Access-Control-Request-Method", "GET")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if r := preflight(t, "http://localhost:3000"); r.Header.Get("Access-Control-Allow-Origin") != "http://localhost:3000" {
		t.Fatalf("the allowed origin is not granted: %d %v", r.StatusCode, r.Header)
	}
	for _, o := range []string{"http://localhost:3000:80", "http://localhost:3000:", "http://localhost:3000:3000", "http://local host:3000"} {
		t.Run(o, func(t *testing.T) {
			if r := preflight(t, o); r.Header.Get("Access-Control-Allow-Origin") != "" {
				t.Fatalf("Origin %q granted: %v", o, r.Header)
			}
		})
	}
	t.Run("two origins", func(t *testing.T) {
		r := preflight(t, "http://localhost:3000", "https://evil.example")
		if r.StatusCode != 400 || r.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("two Origin headers: %d %v, want 400 without a grant", r.StatusCode, r.Header)
		}
	})
	for _, h := range []string{"Referer", "Sec-Fetch-Site"} {
		t.Run("two "+h, func(t *testing.T) {
			req, _ := http.NewRequest("POST", c.URL("/logout"), nil)
			req.Header.Add(h, "same-origin")
			req.Header.Add(h, "cross-site")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 400 {
				t.Fatalf("two %s headers: %d, want 400", h, resp.StatusCode)
			}
		})
	}
}
