package caddymodule_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/apigw/caddy-apigw/internal/testutil"
)

// TestDemoEdge replays each example of the edge-hardening issue against
// Caddyfile.example itself (no apigw_edge line in it: the product's
// default) and its demo upstream, which echoes what it received.
func TestDemoEdge(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	c := testutil.StartCaddy(t, testutil.Options{})
	rig := &edgeRig{c: c, addr: "127.0.0.1:" + strconv.Itoa(c.HTTPPort)}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "alice", "scope": "read", "exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString([]byte("dev-only-jwt-secret-change-me-0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	bearer := "Authorization: Bearer " + tok + "\r\n"

	refused := []struct{ name, req string }{
		{"path parameter past the admin scope", "GET /jwt/admin;x HTTP/1.1\r\nHost: HOST\r\n" + bearer + "\r\n"},
		{"open to key via ..;", "GET /open/..;/key/x HTTP/1.1\r\nHost: HOST\r\n\r\n"},
		{"encoded NUL", "GET /jwt/admin%00 HTTP/1.1\r\nHost: HOST\r\n" + bearer + "\r\n"},
		{"encoded backslash", "GET /open/..%5ckey/x HTTP/1.1\r\nHost: HOST\r\n\r\n"},
		{"double-encoded dots", "GET /open/%252e%252e/key/x HTTP/1.1\r\nHost: HOST\r\n\r\n"},
		// servers that trim trailing dots and spaces (Windows, IIS)
		// read these as /jwt/admin; the gateway's matchers do not
		{"trailing dot past the admin scope", "GET /jwt/admin. HTTP/1.1\r\nHost: HOST\r\n" + bearer + "\r\n"},
		{"encoded trailing dot", "GET /jwt/admin%2e/x HTTP/1.1\r\nHost: HOST\r\n" + bearer + "\r\n"},
		{"encoded trailing space", "GET /jwt/admin%20 HTTP/1.1\r\nHost: HOST\r\n" + bearer + "\r\n"},
		// an upstream that decodes twice reads /jwt/admin
		{"double-encoded letter", "GET /jwt/%2561dmin HTTP/1.1\r\nHost: HOST\r\n" + bearer + "\r\n"},
		{"lower-case method skips validation", "post /users HTTP/1.1\r\nHost: HOST\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"},
		{"mixed-case method", "Post /users HTTP/1.1\r\nHost: HOST\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"},
		{"bad chunk size", "POST /open/x HTTP/1.1\r\nHost: HOST\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"},
		// apigw_validate reads the first line, an upstream may read the last
		{"Content-Type twice", "POST /users HTTP/1.1\r\nHost: HOST\r\nContent-Type: application/json\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 29\r\n\r\n{\"email\":\"a@b.co\",\"name\":\"A\"}"},
		{"Content-Encoding twice", "POST /users HTTP/1.1\r\nHost: HOST\r\nContent-Type: application/json\r\nContent-Encoding: identity\r\nContent-Encoding: gzip\r\nContent-Length: 2\r\n\r\n{}"},
		{"bare LF chunks", "POST /open/x HTTP/1.1\r\nHost: HOST\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\n0\n\n"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := rig.raw(t, tc.req)
			wantProblem(t, resp, body, http.StatusBadRequest, "bad_request", "")
		})
	}
	t.Run("TRACE", func(t *testing.T) {
		resp, body := rig.raw(t, "TRACE /open/x HTTP/1.1\r\nHost: HOST\r\n\r\n")
		wantProblem(t, resp, body, http.StatusMethodNotAllowed, "method_not_allowed", "")
	})

	type demoEcho struct {
		Headers map[string]string `json:"headers"`
	}
	echo := func(t *testing.T, req string) demoEcho {
		t.Helper()
		resp, body := rig.raw(t, req)
		var e demoEcho
		if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &e) != nil {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		return e
	}
	t.Run("Connection cannot strip the identity or the request id", func(t *testing.T) {
		e := echo(t, "GET /key/x HTTP/1.1\r\nHost: HOST\r\nX-API-Key: demo-key-1\r\nConnection: X-Auth-User, X-Auth-Method, X-Request-ID, close\r\n\r\n")
		if e.Headers["x-auth-user"] != "demo-user" || e.Headers["x-auth-method"] == "" || e.Headers["x-request-id"] == "" {
			t.Fatalf("upstream saw %v", e.Headers)
		}
	})
	t.Run("client identity never reaches the upstream", func(t *testing.T) {
		e := echo(t, "GET /open/x HTTP/1.1\r\nHost: HOST\r\nX-Auth-User: admin\r\nx-auth-scope: admin\r\n\r\n")
		if e.Headers["x-auth-user"] != "" || e.Headers["x-auth-scope"] != "" {
			t.Fatalf("upstream saw %v", e.Headers)
		}
	})
	t.Run("h2c upgrade gets no 101", func(t *testing.T) {
		resp, _ := rig.raw(t, "GET /open/x HTTP/1.1\r\nHost: HOST\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n")
		if resp.StatusCode == http.StatusSwitchingProtocols {
			t.Fatal("101")
		}
	})
	for _, line := range strings.Split(c.Log.String(), "\n") {
		if strings.Contains(line, `"level":"error"`) {
			t.Errorf("logged at ERROR: %s", line)
		}
	}
}
