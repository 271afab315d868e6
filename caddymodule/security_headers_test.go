package caddymodule

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/apigw/caddy-apigw/authn"
	"github.com/apigw/caddy-apigw/internal/testutil"
	"github.com/apigw/caddy-apigw/secheaders"
)

func provisionSH(t testing.TB, s *SecurityHeaders) *SecurityHeaders {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := s.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	return s
}

// serveSH runs s in front of next and returns the response headers.
func serveSH(t testing.TB, s *SecurityHeaders, r *http.Request, next caddyhttp.HandlerFunc) http.Header {
	t.Helper()
	repl := caddyhttp.NewTestReplacer(r)
	r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl))
	w := httptest.NewRecorder()
	if err := s.ServeHTTP(w, r, next); err != nil {
		t.Fatal(err)
	}
	return w.Result().Header
}

func okHandler(w http.ResponseWriter, _ *http.Request) error {
	w.WriteHeader(http.StatusOK)
	return nil
}

// TestSecurityHeadersMatchHelmet runs helmet 8 (npm) and compares its
// header set with the helmet preset, over HTTP and HTTPS. The only
// intended difference: no HSTS over plain HTTP (helmet always sends it;
// browsers ignore it there, RFC 6797 §8.1).
func TestSecurityHeadersMatchHelmet(t *testing.T) {
	if testing.Short() {
		t.Skip("runs node")
	}
	s := provisionSH(t, &SecurityHeaders{})
	for _, tc := range []struct {
		name   string
		https  bool
		script []string
	}{
		{"http", false, []string{"helmet-headers.mjs"}},
		{"https", true, []string{"helmet-headers.mjs", "https"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var want map[string]string
			if err := json.Unmarshal([]byte(testutil.Node(t, tc.script[0], tc.script[1:]...)), &want); err != nil {
				t.Fatal(err)
			}
			if !tc.https {
				delete(want, "strict-transport-security")
			}
			r := httptest.NewRequest("GET", "/", nil)
			if tc.https {
				r.TLS = &tls.ConnectionState{}
			}
			got := serveSH(t, s, r, okHandler)
			for k, v := range want {
				if g := got.Values(k); len(g) != 1 || g[0] != v {
					t.Errorf("%s: got %q, helmet sends %q", k, g, v)
				}
			}
			for k := range got {
				if _, ok := want[strings.ToLower(k)]; !ok {
					t.Errorf("we send %s, helmet does not", k)
				}
			}
		})
	}
}

func TestSecurityHeaders(t *testing.T) {
	upstreamCSP := func(w http.ResponseWriter, _ *http.Request) error {
		w.Header().Add("Content-Security-Policy", "default-src *")
		w.Header().Add("X-Frame-Options", "ALLOWALL")
		w.WriteHeader(200)
		return nil
	}
	for _, tc := range []struct {
		name    string
		cfg     SecurityHeaders
		https   bool
		auth    bool
		next    caddyhttp.HandlerFunc
		want    map[string]string // "" = absent
		wantErr string
	}{
		{name: "helmet http", want: map[string]string{"X-Frame-Options": "SAMEORIGIN", "Strict-Transport-Security": "", "Cache-Control": ""}},
		{name: "helmet https", https: true, want: map[string]string{"Strict-Transport-Security": "max-age=31536000; includeSubDomains"}},
		{name: "upstream cannot override", next: upstreamCSP, want: map[string]string{"Content-Security-Policy": secheaders.HelmetCSP, "X-Frame-Options": "SAMEORIGIN"}},
		{name: "override", cfg: SecurityHeaders{Set: map[string]string{"X-Frame-Options": "DENY", "Permissions-Policy": "camera=()"}},
			want: map[string]string{"X-Frame-Options": "DENY", "Permissions-Policy": "camera=()"}},
		{name: "remove", cfg: SecurityHeaders{Remove: []string{"Content-Security-Policy", "Strict-Transport-Security"}}, https: true,
			want: map[string]string{"Content-Security-Policy": "", "Strict-Transport-Security": "", "X-Content-Type-Options": "nosniff"}},
		{name: "removed header left to the upstream", cfg: SecurityHeaders{Remove: []string{"Content-Security-Policy"}}, next: upstreamCSP,
			want: map[string]string{"Content-Security-Policy": "default-src *", "X-Frame-Options": "SAMEORIGIN"}},
		{name: "api anonymous", cfg: SecurityHeaders{Preset: "api"},
			want: map[string]string{"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'", "X-Frame-Options": "DENY", "Cache-Control": ""}},
		{name: "api authenticated", cfg: SecurityHeaders{Preset: "api"}, auth: true,
			want: map[string]string{"Cache-Control": "no-store"}},
		{name: "api with own cache-control", cfg: SecurityHeaders{Preset: "api", Set: map[string]string{"Cache-Control": "private, max-age=60"}}, auth: true,
			want: map[string]string{"Cache-Control": "private, max-age=60"}},
		{name: "unknown preset", cfg: SecurityHeaders{Preset: "strictest"}, wantErr: "unknown preset"},
		{name: "set and remove", cfg: SecurityHeaders{Set: map[string]string{"x-frame-options": "DENY"}, Remove: []string{"X-Frame-Options"}}, wantErr: "both set and removed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.cfg
			ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
			defer cancel()
			err := s.Provision(ctx)
			if err == nil {
				err = s.Validate()
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest("GET", "/", nil)
			if tc.https {
				r.TLS = &tls.ConnectionState{}
			}
			repl := caddyhttp.NewTestReplacer(r)
			r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl))
			next := tc.next
			if next == nil {
				next = okHandler
			}
			if tc.auth {
				inner := next
				next = func(w http.ResponseWriter, r *http.Request) error {
					repl.Set(IdentityVar, &authn.Identity{ID: "u1", Method: "jwt"})
					return inner(w, r)
				}
			}
			w := httptest.NewRecorder()
			if err := s.ServeHTTP(w, r, next); err != nil {
				t.Fatal(err)
			}
			got := w.Result().Header
			for k, v := range tc.want {
				if v == "" {
					if g := got.Get(k); g != "" {
						t.Errorf("%s = %q, want absent", k, g)
					}
					continue
				}
				if g := got.Values(k); len(g) != 1 || g[0] != v {
					t.Errorf("%s = %q, want %q", k, g, v)
				}
			}
		})
	}
}

// TestSecurityHeadersOnErrors: headers are in place before the chain
// runs, so an error route (which writes to the same header map) carries
// them.
func TestSecurityHeadersOnErrors(t *testing.T) {
	s := provisionSH(t, &SecurityHeaders{})
	r := httptest.NewRequest("GET", "/", nil)
	w := httptest.NewRecorder()
	err := s.ServeHTTP(w, r, caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error {
		return caddyhttp.Error(http.StatusNotFound, errors.New("nope"))
	}))
	if err == nil {
		t.Fatal("error swallowed")
	}
	if w.Header().Get("X-Content-Type-Options") != "nosniff" || w.Header().Get("Content-Security-Policy") != secheaders.HelmetCSP {
		t.Fatalf("headers missing before the error route: %v", w.Header())
	}
}

func TestSecurityHeadersCaddyfile(t *testing.T) {
	for _, tc := range []struct {
		name, input string
		want        SecurityHeaders
		wantErr     string
	}{
		{name: "bare", input: `apigw_security_headers`, want: SecurityHeaders{}},
		{name: "preset arg", input: `apigw_security_headers api`, want: SecurityHeaders{Preset: "api"}},
		{name: "block", input: "apigw_security_headers {\n preset api\n Permissions-Policy \"camera=()\"\n -X-Download-Options\n}",
			want: SecurityHeaders{Preset: "api", Set: map[string]string{"Permissions-Policy": "camera=()"}, Remove: []string{"X-Download-Options"}}},
		{name: "conflicting presets", input: "apigw_security_headers helmet {\n preset api\n}", wantErr: "conflicting presets"},
		{name: "unknown preset", input: "apigw_security_headers {\n preset paranoid\n}", wantErr: "unknown preset"},
		{name: "missing value", input: "apigw_security_headers {\n X-Frame-Options\n}", wantErr: "exactly one value"},
		{name: "bad name", input: "apigw_security_headers {\n X(Frame) DENY\n}", wantErr: "not a valid header name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := httpcaddyfile.Helper{Dispenser: caddyfile.NewTestDispenser(tc.input)}
			mh, err := parseSecurityHeaders(h)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.Marshal(mh)
			want, _ := json.Marshal(&tc.want)
			if string(got) != string(want) {
				t.Fatalf("got %s, want %s", got, want)
			}
		})
	}
}
