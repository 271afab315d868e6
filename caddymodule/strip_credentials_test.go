package caddymodule

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/headers"
)

func provisionStrip(tb testing.TB, s *StripCredentials) *StripCredentials {
	tb.Helper()
	if err := s.Provision(caddy.Context{}); err != nil {
		tb.Fatal(err)
	}
	if err := s.Validate(); err != nil {
		tb.Fatal(err)
	}
	return s
}

// TestStripCredentials: every credential header and cookie goes, in any
// number of Cookie lines, and nothing else does.
func TestStripCredentials(t *testing.T) {
	s := provisionStrip(t, &StripCredentials{Headers: []string{"x-upstream-token"}, Cookies: []string{"legacy_sid"}})
	for _, tc := range []struct {
		name   string
		in     http.Header
		header http.Header // what the next handler sees
	}{
		{"credential headers", http.Header{
			"Authorization": {"Bearer t"}, "Proxy-Authorization": {"Basic x"}, "X-Api-Key": {"k"},
			"X-Signature": {"s"}, "Signature": {"sig1=:x:"}, "Signature-Input": {"sig1=()"}, "Dpop": {"p"},
			"X-Upstream-Token": {"u"}, "Accept": {"application/json"},
		}, http.Header{"Accept": {"application/json"}}},
		{"session cookie first", http.Header{"Cookie": {"apigw_session=v1.abc; theme=dark"}}, http.Header{"Cookie": {"theme=dark"}}},
		{"session cookie last", http.Header{"Cookie": {"theme=dark; apigw_session=v1.abc"}}, http.Header{"Cookie": {"theme=dark"}}},
		{"cookies between others", http.Header{"Cookie": {"a=1; apigw_oidc_login=s; b=2; legacy_sid=9; c=3"}}, http.Header{"Cookie": {"a=1; b=2; c=3"}}},
		{"only credential cookies", http.Header{"Cookie": {"apigw_session=v1.abc; __Host-apigw_session=v1.def"}}, http.Header{}},
		{"several cookie lines", http.Header{"Cookie": {"apigw_session=1", "theme=dark", "a=1;apigw_session=2"}}, http.Header{"Cookie": {"theme=dark", "a=1"}}},
		{"a cookie whose name only contains the session's", http.Header{"Cookie": {"my_apigw_session=1; apigw_session_x=2"}}, http.Header{"Cookie": {"my_apigw_session=1; apigw_session_x=2"}}},
		{"nothing to strip", http.Header{"Accept": {"*/*"}, "X-Auth-User": {"set by the gateway"}}, http.Header{"Accept": {"*/*"}, "X-Auth-User": {"set by the gateway"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/x", nil)
			r.Header = tc.in
			var seen http.Header
			next := caddyhttp.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) error {
				seen = r.Header.Clone()
				return nil
			})
			if err := s.ServeHTTP(httptest.NewRecorder(), r, next); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(seen, tc.header) {
				t.Fatalf("next saw %v, want %v", seen, tc.header)
			}
		})
	}
}

func TestStripCredentialsValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    *StripCredentials
	}{
		{"bad header", &StripCredentials{Headers: []string{"X Bad"}}},
		{"empty header", &StripCredentials{Headers: []string{""}}},
		{"bad cookie", &StripCredentials{Cookies: []string{"a;b"}}},
		{"empty cookie", &StripCredentials{Cookies: []string{""}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.s.Validate(); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

// demoHeaderUp is the header_up list Caddyfile.example's (upstream)
// snippet used before apigw_strip_credentials, as `caddy adapt` writes
// it: the gateway's credentials removed, the session and login-state
// cookies cut out of Cookie by regexps.
const demoHeaderUp = `{
	"delete": ["X-Api-Key", "Authorization", "X-Signature", "Proxy-Authorization", "DPoP", "Signature", "Signature-Input"],
	"replace": {"Cookie": [
		{"search_regexp": "(?:^|;)\\s*apigw_session=[^;]*", "replace": ""},
		{"search_regexp": "(?:^|;)\\s*apigw_oidc_login=[^;]*", "replace": ""},
		{"search_regexp": "^\\s*;\\s*", "replace": ""}
	]}
}`

// BenchmarkStripCredentials compares the demo's strip with the
// header_up list it replaced (applied by reverse_proxy to the request it
// sends upstream), on a request without cookies and one with the session
// cookie and another cookie.
func BenchmarkStripCredentials(b *testing.B) {
	s := provisionStrip(b, &StripCredentials{})
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	var ops headers.HeaderOps
	if err := json.Unmarshal([]byte(demoHeaderUp), &ops); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	b.Cleanup(cancel)
	if err := ops.Provision(ctx); err != nil {
		b.Fatal(err)
	}
	for _, strip := range []struct {
		name string
		do   func(*http.Request) error
	}{
		{"apigw_strip_credentials", func(r *http.Request) error { return s.ServeHTTP(nil, r, next) }},
		{"header_up list", func(r *http.Request) error { ops.ApplyToRequest(r); return nil }},
	} {
		for _, tc := range []struct{ name, cookie string }{
			{"no cookie", ""},
			{"session cookie", "apigw_session=v1.abcdefghijklmnopqrstuvwxyz0123456789; theme=dark"},
		} {
			b.Run(strip.name+"/"+tc.name, func(b *testing.B) {
				r := httptest.NewRequest("GET", "/open/items", nil)
				r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
				accept := []string{"application/json"}
				b.ReportAllocs()
				for b.Loop() {
					r.Header["Accept"] = accept
					if tc.cookie != "" {
						r.Header["Cookie"] = []string{tc.cookie}
					}
					if err := strip.do(r); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
