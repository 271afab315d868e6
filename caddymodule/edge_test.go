package caddymodule

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/apigw/caddy-apigw/edge"
	"github.com/apigw/caddy-apigw/problem"
)

func edgeRequest(method, target string, vars map[string]any) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Method = method
	r.RequestURI = target
	if vars == nil {
		vars = map[string]any{}
	}
	*r = *r.WithContext(context.WithValue(r.Context(), caddyhttp.VarsCtxKey, vars))
	caddyhttp.NewTestReplacer(r)
	return r
}

func provisionedEdge(t testing.TB, e *Edge) *Edge {
	if err := e.Provision(caddy.Context{}); err != nil {
		t.Fatal(err)
	}
	return e
}

func TestEdgeServeHTTP(t *testing.T) {
	for _, tc := range []struct {
		name, method, target string
		edge                 Edge
		status               int
		code                 string
	}{
		{"clean", "GET", "/open/x", Edge{}, 0, ""},
		{"lower-case method", "post", "/users", Edge{}, 400, "bad_request"},
		{"trace", "TRACE", "/open/x", Edge{}, 405, "method_not_allowed"},
		{"trace allowed", "TRACE", "/open/x", Edge{Options: edge.Options{AllowTrace: true}}, 0, ""},
		{"connect", "CONNECT", "example.com:443", Edge{}, 405, "method_not_allowed"},
		{"semicolon", "GET", "/jwt/admin;x", Edge{}, 400, "bad_request"},
		{"semicolon allowed", "GET", "/jwt/admin;x", Edge{Options: edge.Options{AllowSemicolon: true}}, 0, ""},
		{"encoded slash allowed", "GET", "/a%2fb", Edge{Options: edge.Options{AllowEncodedSlash: true}}, 0, ""},
		{"absolute form", "GET", "http://h/x", Edge{}, 400, "bad_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := provisionedEdge(t, &tc.edge)
			reached := false
			err := e.ServeHTTP(httptest.NewRecorder(), edgeRequest(tc.method, tc.target, nil), caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error {
				reached = true
				return nil
			}))
			if tc.status == 0 {
				if err != nil || !reached {
					t.Fatalf("err %v, reached %v", err, reached)
				}
				return
			}
			var p *problem.Problem
			if reached || !errors.As(err, &p) || p.Status != tc.status || p.Code != tc.code {
				t.Fatalf("err %v, reached %v; want %d %s", err, reached, tc.status, tc.code)
			}
			if tc.status == 405 && p.Header.Get("Allow") == "" {
				t.Fatal("405 without Allow")
			}
		})
	}
}

// TestEdgeTrustedProxy: client-address headers are kept only from a
// peer in the server's trusted_proxies (Caddy's trusted_proxy var).
func TestEdgeTrustedProxy(t *testing.T) {
	for _, trusted := range []bool{false, true} {
		r := edgeRequest("GET", "/open/x", map[string]any{caddyhttp.TrustedProxyVarKey: trusted})
		r.Header.Set("X-Real-IP", "10.0.0.1")
		r.Header.Set("Forwarded", "for=10.0.0.1")
		r.Header.Set("X-Auth-User", "admin")
		var got http.Header
		e := provisionedEdge(t, &Edge{})
		if err := e.ServeHTTP(httptest.NewRecorder(), r, caddyhttp.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) error {
			got = r.Header
			return nil
		})); err != nil {
			t.Fatal(err)
		}
		if kept := got.Get("X-Real-IP") != "" && got.Get("Forwarded") != ""; kept != trusted {
			t.Errorf("trusted %v: client-address headers kept %v", trusted, kept)
		}
		if got.Get("X-Auth-User") != "" {
			t.Errorf("trusted %v: X-Auth-User kept", trusted)
		}
	}
}

// TestEdgeUpgradeRestored: the edge sets Upgrade aside; apigw_upgrade
// restores it for an allowed protocol only.
func TestEdgeUpgradeRestored(t *testing.T) {
	for _, tc := range []struct {
		upgrade string
		allowed []string
		want    bool
	}{
		{"websocket", []string{"websocket"}, true},
		{"WebSocket", []string{"websocket"}, true},
		{"h2c", []string{"websocket"}, false},
		{"websocket", nil, false},
	} {
		t.Run(tc.upgrade, func(t *testing.T) {
			vars := map[string]any{}
			r := edgeRequest("GET", "/ws", vars)
			r.Header.Set("Connection", "Upgrade")
			r.Header.Set("Upgrade", tc.upgrade)
			e := provisionedEdge(t, &Edge{})
			var got http.Header
			final := caddyhttp.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) error {
				got = r.Header.Clone()
				return nil
			})
			next := final
			if tc.allowed != nil {
				u := &Upgrade{Protocols: tc.allowed}
				next = func(w http.ResponseWriter, r *http.Request) error { return u.ServeHTTP(w, r, final) }
			}
			if err := e.ServeHTTP(httptest.NewRecorder(), r, next); err != nil {
				t.Fatal(err)
			}
			if has := got.Get("Upgrade") != ""; has != tc.want {
				t.Fatalf("Upgrade passed: %v, want %v (%v)", has, tc.want, got)
			}
			if tc.want && got.Get("Connection") != "Upgrade" {
				t.Fatalf("Connection %q", got.Get("Connection"))
			}
		})
	}
}

type failingBody struct{ err error }

func (b failingBody) Read([]byte) (int, error) { return 0, b.err }
func (failingBody) Close() error               { return nil }

// TestEdgeFramingError: a client body read error surfacing from the
// proxy as a 502 leaves the edge as 400 bad_request.
func TestEdgeFramingError(t *testing.T) {
	r := edgeRequest("POST", "/open/x", nil)
	r.Body = failingBody{errors.New("malformed chunked encoding")}
	e := provisionedEdge(t, &Edge{})
	err := e.ServeHTTP(httptest.NewRecorder(), r, caddyhttp.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) error {
		_, err := io.ReadAll(r.Body)
		return caddyhttp.Error(http.StatusBadGateway, err)
	}))
	var p *problem.Problem
	if !errors.As(err, &p) || p.Status != 400 || p.Code != "bad_request" {
		t.Fatalf("got %v", err)
	}
	if got := ProblemFor(r, caddyhttp.Error(502, &edge.FramingError{Err: io.ErrUnexpectedEOF})); got.Status != 400 {
		t.Fatalf("ProblemFor a framing error: %d", got.Status)
	}
}

// TestEdgeSiteSegments guards the one reflect read of edge_caddyfile.go:
// if a Caddy upgrade moves httpcaddyfile.Helper's server block, this
// fails (and adaptation of every site using caddy-apigw fails loudly).
func TestEdgeSiteSegments(t *testing.T) {
	h := httpcaddyfile.Helper{Dispenser: caddyfile.NewTestDispenser("apigw_request_id")}
	if _, _, ok := siteSegments(h); !ok {
		t.Fatal("cannot read httpcaddyfile.Helper's parentBlock.Segments")
	}
	if !strings.HasPrefix(edgeStateKey, "apigw.") {
		t.Fatal("state key outside our namespace")
	}
}

// BenchmarkEdgeServeHTTP is the edge on a clean request with typical
// headers (the budget: < 300 ns, 0 allocs).
func BenchmarkEdgeServeHTTP(b *testing.B) {
	e := provisionedEdge(b, &Edge{})
	r := edgeRequest("GET", "/key/items/42?limit=20&page=1", nil)
	r.Header = http.Header{
		"Accept": {"application/json"}, "User-Agent": {"wrk/4.2"}, "X-Api-Key": {"demo-key-1"},
		"Accept-Encoding": {"gzip"}, "Connection": {"keep-alive"},
	}
	w := httptest.NewRecorder()
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	b.ReportAllocs()
	for b.Loop() {
		r.Header["Connection"] = r.Header["Accept"][:0:0]
		if err := e.ServeHTTP(w, r, next); err != nil {
			b.Fatal(err)
		}
	}
}
