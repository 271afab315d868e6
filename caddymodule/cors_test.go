package caddymodule

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func provisionCORS(t testing.TB, c *CORS) *CORS {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := c.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCORS(t *testing.T) {
	c := provisionCORS(t, &CORS{Origins: []string{"http://localhost:3000"}, Credentials: true})
	any := provisionCORS(t, &CORS{Origins: []string{"*"}, Headers: []string{"*"}})
	for _, tc := range []struct {
		name     string
		h        *CORS
		method   string
		hdr      map[string]string
		status   int // 0: passed to next (200)
		want     map[string]string
		nextSeen bool
	}{
		{name: "preflight allowed", h: c, method: "OPTIONS",
			hdr:    map[string]string{"Origin": "http://localhost:3000", "Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "content-type, x-api-key"},
			status: 204, want: map[string]string{"Access-Control-Allow-Origin": "http://localhost:3000", "Access-Control-Allow-Credentials": "true",
				"Access-Control-Allow-Methods": "GET, HEAD, POST, PUT, PATCH, DELETE", "Access-Control-Max-Age": "600"}},
		{name: "preflight bad origin", h: c, method: "OPTIONS",
			hdr:    map[string]string{"Origin": "http://evil.test", "Access-Control-Request-Method": "GET"},
			status: 204, want: map[string]string{"Access-Control-Allow-Origin": "", "Access-Control-Allow-Credentials": ""}},
		{name: "preflight bad method", h: c, method: "OPTIONS",
			hdr:    map[string]string{"Origin": "http://localhost:3000", "Access-Control-Request-Method": "TRACE"},
			status: 204, want: map[string]string{"Access-Control-Allow-Origin": ""}},
		{name: "preflight bad header", h: c, method: "OPTIONS",
			hdr:    map[string]string{"Origin": "http://localhost:3000", "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "x-evil"},
			status: 204, want: map[string]string{"Access-Control-Allow-Origin": ""}},
		{name: "plain OPTIONS passes", h: c, method: "OPTIONS", hdr: map[string]string{"Origin": "http://localhost:3000"}, nextSeen: true},
		{name: "simple allowed", h: c, method: "GET", hdr: map[string]string{"Origin": "http://localhost:3000"}, nextSeen: true,
			want: map[string]string{"Access-Control-Allow-Origin": "http://localhost:3000", "Access-Control-Allow-Credentials": "true",
				"Access-Control-Expose-Headers": "RateLimit, RateLimit-Policy, Retry-After, X-Request-ID", "Vary": "Origin"}},
		{name: "simple disallowed", h: c, method: "GET", hdr: map[string]string{"Origin": "https://evil.test"}, nextSeen: true,
			want: map[string]string{"Access-Control-Allow-Origin": "", "Access-Control-Expose-Headers": "", "Vary": "Origin"}},
		{name: "no origin", h: c, method: "GET", nextSeen: true, want: map[string]string{"Access-Control-Allow-Origin": "", "Vary": "Origin"}},
		{name: "wildcard no credentials", h: any, method: "GET", hdr: map[string]string{"Origin": "https://x.test"}, nextSeen: true,
			want: map[string]string{"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Credentials": ""}},
		{name: "wildcard headers reflect", h: any, method: "OPTIONS",
			hdr:    map[string]string{"Origin": "https://x.test", "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "x-anything"},
			status: 204, want: map[string]string{"Access-Control-Allow-Headers": "x-anything"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, "/x", nil)
			for k, v := range tc.hdr {
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			seen := false
			err := tc.h.ServeHTTP(w, r, caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				seen = true
				w.WriteHeader(200)
				return nil
			}))
			if err != nil {
				t.Fatal(err)
			}
			if seen != tc.nextSeen {
				t.Fatalf("next called = %v, want %v", seen, tc.nextSeen)
			}
			if tc.status != 0 && w.Code != tc.status {
				t.Fatalf("status %d, want %d", w.Code, tc.status)
			}
			for k, v := range tc.want {
				if got := w.Header().Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

// TestCORSUpstreamOverridden: the gateway's answer replaces whatever the
// upstream says about CORS, for allowed and disallowed origins.
func TestCORSUpstreamOverridden(t *testing.T) {
	c := provisionCORS(t, &CORS{Origins: []string{"http://localhost:3000"}, Credentials: true})
	upstream := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Add("Access-Control-Allow-Origin", r.Header.Get("Origin"))
		w.Header().Add("Access-Control-Allow-Credentials", "true")
		w.WriteHeader(200)
		return nil
	})
	for _, tc := range []struct {
		origin, wantACAO, wantACAC string
	}{
		{"http://localhost:3000", "http://localhost:3000", "true"},
		{"https://evil.test", "", ""},
	} {
		t.Run(tc.origin, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/x", nil)
			r.Header.Set("Origin", tc.origin)
			w := httptest.NewRecorder()
			if err := c.ServeHTTP(w, r, upstream); err != nil {
				t.Fatal(err)
			}
			h := w.Result().Header
			if got := h.Values("Access-Control-Allow-Origin"); len(got) > 1 || h.Get("Access-Control-Allow-Origin") != tc.wantACAO {
				t.Fatalf("ACAO %q, want %q", got, tc.wantACAO)
			}
			if got := h.Values("Access-Control-Allow-Credentials"); len(got) > 1 || h.Get("Access-Control-Allow-Credentials") != tc.wantACAC {
				t.Fatalf("ACAC %q, want %q", got, tc.wantACAC)
			}
		})
	}
}

func TestCORSConfigErrors(t *testing.T) {
	for _, tc := range []struct{ name, input, want string }{
		{"credentials with star", "apigw_cors {\n origins *\n credentials\n}", `credentials cannot be combined with origin "*"`},
		{"bad origin", "apigw_cors {\n origins localhost:3000\n}", "must look like"},
		{"unknown option", "apigw_cors {\n origin http://a.test\n}", "unknown option"},
		{"bad max_age", "apigw_cors http://a.test {\n max_age soon\n}", "max_age"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseCORS(httpcaddyfile.Helper{Dispenser: caddyfile.NewTestDispenser(tc.input)})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	// The same mistakes through JSON fail at provision/validate.
	for _, tc := range []struct {
		name string
		c    CORS
		want string
	}{
		{"credentials with star", CORS{Origins: []string{"*"}, Credentials: true}, "list the allowed origins explicitly"},
		{"no origins", CORS{}, "no origins configured"},
	} {
		t.Run("json "+tc.name, func(t *testing.T) {
			ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
			defer cancel()
			err := tc.c.Provision(ctx)
			if err == nil {
				err = tc.c.Validate()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}
