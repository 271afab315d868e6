package caddymodule

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
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

// BenchmarkStripCredentials is the demo's strip (compare
// bench/routecost's BenchmarkDemoHeaderUp: the header_up list it
// replaces).
func BenchmarkStripCredentials(b *testing.B) {
	s := provisionStrip(b, &StripCredentials{})
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	for _, tc := range []struct{ name, cookie string }{
		{"no cookie", ""},
		{"session cookie", "apigw_session=v1.abcdefghijklmnopqrstuvwxyz0123456789; theme=dark"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			r := httptest.NewRequest("GET", "/open/items", nil)
			w := httptest.NewRecorder()
			accept := []string{"application/json"}
			b.ReportAllocs()
			for b.Loop() {
				r.Header["Accept"] = accept
				if tc.cookie != "" {
					r.Header["Cookie"] = []string{tc.cookie}
				}
				if err := s.ServeHTTP(w, r, next); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
