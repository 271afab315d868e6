package caddymodule_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"context"
	"crypto/tls"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"

	"github.com/apigw/caddy-apigw/internal/testutil"
)

// edgeConfig is a gateway shaped like the demo's (an open route, a keyed
// route, an admin-scoped JWT route, a validated route) in front of
// upstreams that would honour each attack: an h2c-capable one (it
// answers Upgrade: h2c with 101 and serves HTTP/2 on the connection), an
// echo that reports the headers and trailers it got, and a websocket one
// for the opted-in route. It uses no apigw_edge line: the edge comes
// with the other directives.
const edgeConfig = `{
	admin {$APIGW_ADMIN}
	auto_https off
}
http://:{$APIGW_HTTP_PORT} {
	bind 127.0.0.1
	apigw_request_id
	apigw_errors

	handle /open/* {
		reverse_proxy {$ECHO}
	}
	handle /h2c/* {
		reverse_proxy {$H2C}
	}
	handle /key/* {
		apigw_api_key {
			key 0b2c109e25ac7d47cc0c56f999832031c7391890ee1893f299b5df9a9256f1d1 demo-user
		}
		reverse_proxy {$H2C}
	}
	handle /echo-key/* {
		apigw_api_key {
			key 0b2c109e25ac7d47cc0c56f999832031c7391890ee1893f299b5df9a9256f1d1 demo-user
		}
		reverse_proxy {$ECHO}
	}
	@jwt_admin path /jwt/admin /jwt/admin/*
	handle @jwt_admin {
		apigw_jwt {
			secret dev-only-jwt-secret-change-me-0123456789abcdef
			algorithms HS256
		}
		apigw_authorize {
			scope admin
		}
		reverse_proxy {$ECHO}
	}
	handle /jwt/* {
		reverse_proxy {$ECHO}
	}
	handle /ws/* {
		apigw_api_key {
			key 0b2c109e25ac7d47cc0c56f999832031c7391890ee1893f299b5df9a9256f1d1 demo-user
		}
		apigw_upgrade websocket
		reverse_proxy {$WS}
	}
	handle {
		error 404
	}
}
`

type echoed struct {
	Method  string      `json:"method"`
	URI     string      `json:"uri"`
	Header  http.Header `json:"header"`
	Trailer http.Header `json:"trailer"`
	Body    string      `json:"body"`
}

type edgeRig struct {
	c          *testutil.Caddy
	echoHits   atomic.Int64
	h2cHits    atomic.Int64
	addr       string
	h2cUpgrade atomic.Int64
}

func startEdgeRig(t *testing.T) *edgeRig {
	t.Helper()
	return startEdgeRigWith(t, "")
}

// startEdgeRigWith adds global options (e.g. a servers block).
func startEdgeRigWith(t *testing.T, globals string) *edgeRig {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test")
	}
	rig := &edgeRig{}
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rig.echoHits.Add(1)
		body, _ := io.ReadAll(r.Body)
		_ = json.NewEncoder(w).Encode(echoed{r.Method, r.RequestURI, r.Header, r.Trailer, string(body)})
	}))
	t.Cleanup(echo.Close)
	h2cMux := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rig.h2cHits.Add(1)
		if r.ProtoMajor == 2 {
			rig.h2cUpgrade.Add(1)
		}
		_, _ = io.WriteString(w, "h2c upstream reached over "+r.Proto+" at "+r.URL.Path)
	})
	h2cSrv := httptest.NewServer(h2c.NewHandler(h2cMux, &http2.Server{}))
	t.Cleanup(h2cSrv.Close)
	ws := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			_, _ = io.WriteString(w, "no upgrade")
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		_ = brw.Flush()
		line, _ := brw.ReadString('\n')
		_, _ = brw.WriteString("echo:" + line)
		_ = brw.Flush()
	}))
	t.Cleanup(ws.Close)
	cfg := filepath.Join(t.TempDir(), "Caddyfile")
	config := strings.Replace(edgeConfig, "\tauto_https off\n", "\tauto_https off\n"+globals, 1)
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	rig.c = testutil.StartCaddy(t, testutil.Options{Config: cfg, Env: []string{
		"ECHO=" + echo.Listener.Addr().String(),
		"H2C=" + h2cSrv.Listener.Addr().String(),
		"WS=" + ws.Listener.Addr().String(),
	}})
	rig.addr = "127.0.0.1:" + strconv.Itoa(rig.c.HTTPPort)
	return rig
}

// raw sends one raw HTTP/1.1 request on a new connection and reads one
// response.
func (rig *edgeRig) raw(t *testing.T, req string) (*http.Response, string) {
	t.Helper()
	conn, err := net.Dial("tcp", rig.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(conn, strings.ReplaceAll(req, "HOST", rig.addr)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the answer to %q: %v", req, err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	return resp, string(body)
}

func (rig *edgeRig) noErrorLogged(t *testing.T) {
	t.Helper()
	for _, line := range strings.Split(rig.c.Log.String(), "\n") {
		if strings.Contains(line, `"level":"error"`) {
			t.Errorf("logged at ERROR: %s", line)
		}
	}
}

// wantProblem checks a refusal: status, problem code, and that the
// detail does not echo the refused value.
func wantProblem(t *testing.T, resp *http.Response, body string, status int, code, notEcho string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d: %s", resp.StatusCode, status, body)
	}
	var p struct {
		Code, Detail string
	}
	if err := json.Unmarshal([]byte(body), &p); err != nil || p.Code != code {
		t.Fatalf("problem %q (%v), want code %s", body, err, code)
	}
	if notEcho != "" && strings.Contains(p.Detail, notEcho) {
		t.Fatalf("detail %q echoes the refused value %q", p.Detail, notEcho)
	}
}

const demoKey = "X-API-Key: demo-key-1\r\n"

// TestEdgeUpgradeNeverTunnels is class 1: no route without apigw_upgrade
// switches protocols, so no h2c connection can carry later requests past
// the checks; the opted-in websocket route upgrades only after its auth.
func TestEdgeUpgradeNeverTunnels(t *testing.T) {
	rig := startEdgeRig(t)
	for _, tc := range []struct{ name, path, headers string }{
		{"h2c upgrade", "/h2c/x", "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"},
		{"h2c upgrade lower case", "/h2c/x", "connection: upgrade, http2-settings\r\nupgrade: h2c\r\nhttp2-settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"},
		{"h2c two connection lines", "/h2c/x", "Connection: keep-alive\r\nConnection: Upgrade\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"},
		{"h2c on the keyed route with a key", "/key/x", demoKey + "Connection: Upgrade\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"},
		{"websocket where not opted in", "/h2c/x", "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"},
		{"h2c on the websocket route", "/ws/x", demoKey + "Connection: Upgrade\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"},
		{"unknown protocol", "/h2c/x", "Connection: Upgrade\r\nUpgrade: foo/1\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", rig.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
			br := bufio.NewReader(conn)
			_, _ = io.WriteString(conn, "GET "+tc.path+" HTTP/1.1\r\nHost: "+rig.addr+"\r\n"+tc.headers+"\r\n")
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusSwitchingProtocols {
				t.Fatalf("%s got 101", tc.path)
			}
			// the same connection: a keyless request to /key stays 401
			before := rig.h2cHits.Load()
			_, _ = io.WriteString(conn, "GET /key/x HTTP/1.1\r\nHost: "+rig.addr+"\r\n\r\n")
			resp, err = http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized || rig.h2cHits.Load() != before {
				t.Fatalf("keyless /key/x after the upgrade attempt: %d, upstream hits %d -> %d", resp.StatusCode, before, rig.h2cHits.Load())
			}
		})
	}
	if n := rig.h2cUpgrade.Load(); n != 0 {
		t.Fatalf("the h2c upstream served %d HTTP/2 requests", n)
	}

	t.Run("websocket opted in, with the key", func(t *testing.T) {
		conn, err := net.Dial("tcp", rig.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
		br := bufio.NewReader(conn)
		_, _ = io.WriteString(conn, "GET /ws/chat HTTP/1.1\r\nHost: "+rig.addr+"\r\n"+demoKey+"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("opted-in websocket: %d", resp.StatusCode)
		}
		_, _ = io.WriteString(conn, "hello\n")
		line, _ := br.ReadString('\n')
		if line != "echo:hello\n" {
			t.Fatalf("through the tunnel: %q", line)
		}
	})
	t.Run("websocket opted in, without the key", func(t *testing.T) {
		resp, _ := rig.raw(t, "GET /ws/chat HTTP/1.1\r\nHost: HOST\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("keyless websocket: %d", resp.StatusCode)
		}
	})
	rig.noErrorLogged(t)
}

func (rig *edgeRig) echo(t *testing.T, req string) echoed {
	t.Helper()
	resp, body := rig.raw(t, req)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var e echoed
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("echo answer %q: %v", body, err)
	}
	return e
}

// TestEdgeHopByHopAndClientHeaders covers classes 2 and 6: the client's
// Connection header cannot make the proxy drop a header the gateway
// sets, and client identity, routing and client-address headers never
// reach the upstream as sent.
func TestEdgeHopByHopAndClientHeaders(t *testing.T) {
	rig := startEdgeRig(t)
	for _, tc := range []struct{ name, headers string }{
		{"auth user", "Connection: X-Auth-User\r\n"},
		{"auth user and close", "Connection: X-Auth-User, close\r\n"},
		{"lower case", "Connection: x-auth-user, x-auth-method, x-request-id\r\n"},
		{"two lines", "Connection: keep-alive\r\nConnection: X-Auth-Method, X-Request-ID\r\n"},
		{"forwarded headers", "Connection: X-Forwarded-For, X-Forwarded-Host, X-Forwarded-Proto\r\n"},
		{"odd spacing", "Connection: ,, X-Auth-User ,\t X-Request-Id,\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := rig.echo(t, "GET /echo-key/x HTTP/1.1\r\nHost: HOST\r\n"+demoKey+tc.headers+"\r\n")
			for _, k := range []string{"X-Auth-User", "X-Auth-Method", "X-Request-Id", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"} {
				if e.Header.Get(k) == "" {
					t.Errorf("upstream got no %s (%v)", k, e.Header)
				}
			}
			if e.Header.Get("X-Auth-User") != "demo-user" {
				t.Errorf("X-Auth-User %q", e.Header.Get("X-Auth-User"))
			}
		})
	}
	t.Run("client headers", func(t *testing.T) {
		e := rig.echo(t, "GET /open/x HTTP/1.1\r\nHost: HOST\r\n"+
			"X-Auth-User: admin\r\nx-auth-scope: admin\r\nX-AUTH-METHOD: jwt\r\n"+
			"X-Original-URL: /key/x\r\nX-Rewrite-URL: /key/x\r\nX-Override-URL: /key/x\r\n"+
			"X-HTTP-Method-Override: DELETE\r\nX-HTTP-Method: DELETE\r\nX-Method-Override: DELETE\r\n"+
			"Forwarded: for=10.0.0.1;host=evil.example;proto=https\r\nX-Real-IP: 10.0.0.1\r\nTrue-Client-IP: 10.0.0.1\r\n"+
			"X-Client-IP: 10.0.0.1\r\nCF-Connecting-IP: 10.0.0.1\r\nX-Cluster-Client-IP: 10.0.0.1\r\nFastly-Client-IP: 10.0.0.1\r\n"+
			"X-Forwarded-Host: evil.example\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Port: 443\r\nX-Forwarded-Prefix: /admin\r\n"+
			"X-Forwarded-For: 10.0.0.1\r\nX-Request-ID: client-chosen\r\n"+
			"X-Forwarded: for=10.0.0.1\r\nForwarded-For: 10.0.0.1\r\nX-Forwarded-By: 10.0.0.1\r\nX-Forwarded-Server: evil\r\n"+
			"Remote-User: admin\r\nX-Remote-User: admin\r\nX-Authenticated-User: admin\r\nX-Forwarded-User: admin\r\n"+
			"X-Forwarded-Email: admin@example.com\r\nX-Forwarded-Preferred-Username: admin\r\nX-Forwarded-Groups: admins\r\n"+
			"X-Forwarded-Access-Token: t\r\nX-Amzn-Oidc-Data: e30\r\nX-Amzn-Oidc-Identity: admin\r\nX-MS-CLIENT-PRINCIPAL-NAME: admin\r\n"+
			"X-User: admin\r\nX-Auth-Request-User: admin\r\nX-Userinfo: e30\r\nX-Consumer-Username: admin\r\nX-Credential-Identifier: k\r\n"+
			"X-Authenticated-Scope: admin\r\nX-Authenticated-Userid: 1\r\nx-jwt-payload: e30\r\nX-Goog-Authenticated-User-Email: admin@example.com\r\n"+
			"Cf-Access-Authenticated-User-Email: admin@example.com\r\nX-Pomerium-Claim-Email: admin@example.com\r\nX-Forwarded-Client-Cert: By=x\r\n\r\n")
		for _, k := range []string{"X-Auth-User", "X-Auth-Scope", "X-Auth-Method", "X-Original-Url", "X-Rewrite-Url", "X-Override-Url",
			"X-Http-Method-Override", "X-Http-Method", "X-Method-Override", "Forwarded", "X-Real-Ip", "True-Client-Ip", "X-Client-Ip",
			"Cf-Connecting-Ip", "X-Cluster-Client-Ip", "Fastly-Client-Ip", "X-Forwarded-Port", "X-Forwarded-Prefix",
			"X-Forwarded", "Forwarded-For", "X-Forwarded-By", "X-Forwarded-Server", "Remote-User", "X-Remote-User", "X-Authenticated-User",
			"X-Forwarded-User", "X-Forwarded-Email", "X-Forwarded-Preferred-Username", "X-Forwarded-Groups", "X-Forwarded-Access-Token",
			"X-Amzn-Oidc-Data", "X-Amzn-Oidc-Identity", "X-Ms-Client-Principal-Name", "X-User", "X-Auth-Request-User", "X-Userinfo",
			"X-Consumer-Username", "X-Credential-Identifier", "X-Authenticated-Scope", "X-Authenticated-Userid", "X-Jwt-Payload",
			"X-Goog-Authenticated-User-Email", "Cf-Access-Authenticated-User-Email", "X-Pomerium-Claim-Email", "X-Forwarded-Client-Cert"} {
			if v := e.Header.Values(k); len(v) != 0 {
				t.Errorf("upstream got %s: %v", k, v)
			}
		}
		// Caddy's reverse_proxy rebuilds these from its own view of an
		// untrusted client
		if got := e.Header.Get("X-Forwarded-Host"); got != rig.addr {
			t.Errorf("X-Forwarded-Host %q", got)
		}
		if got := e.Header.Get("X-Forwarded-Proto"); got != "http" {
			t.Errorf("X-Forwarded-Proto %q", got)
		}
		if got := e.Header.Get("X-Forwarded-For"); got != "127.0.0.1" {
			t.Errorf("X-Forwarded-For %q", got)
		}
		if got := e.Header.Get("X-Request-Id"); got == "" || got == "client-chosen" {
			t.Errorf("X-Request-Id %q", got)
		}
		if e.Method != "GET" {
			t.Errorf("method %q", e.Method)
		}
	})
	rig.noErrorLogged(t)
}

// TestEdgeTrailersDropped is class 3: declared or not, client trailers
// never reach the upstream.
func TestEdgeTrailersDropped(t *testing.T) {
	rig := startEdgeRig(t)
	for _, tc := range []struct{ name, path, decl, trailers string }{
		{"declared identity", "/open/x", "Trailer: X-Auth-User\r\n", "X-Auth-User: admin\r\n"},
		{"undeclared identity", "/open/x", "", "X-Auth-User: admin\r\nX-Request-ID: evil\r\n"},
		{"declared, on an authenticated route", "/echo-key/x", "Trailer: X-Auth-User, X-Auth-Scope\r\n", "X-Auth-User: admin\r\nX-Auth-Scope: admin\r\n"},
		{"ordinary trailer", "/open/x", "Trailer: Content-Digest\r\n", "Content-Digest: sha-256=:AAAA:\r\n"},
		{"lower case", "/open/x", "trailer: x-auth-user\r\n", "x-auth-user: admin\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := rig.echo(t, "POST "+tc.path+" HTTP/1.1\r\nHost: HOST\r\n"+demoKey+"Content-Type: text/plain\r\nTransfer-Encoding: chunked\r\nTE: trailers\r\n"+tc.decl+"\r\n5\r\nhello\r\n0\r\n"+tc.trailers+"\r\n")
			if e.Body != "hello" {
				t.Errorf("body %q", e.Body)
			}
			if len(e.Trailer) != 0 || e.Header.Get("Trailer") != "" {
				t.Fatalf("upstream got trailers %v / Trailer %q", e.Trailer, e.Header.Get("Trailer"))
			}
			if tc.path == "/echo-key/x" && e.Header.Get("X-Auth-User") != "demo-user" {
				t.Fatalf("X-Auth-User %q", e.Header.Get("X-Auth-User"))
			}
		})
	}
	rig.noErrorLogged(t)
}

// TestEdgePathForms is class 4 (and the request-target forms): refused
// with 400 bad_request before any route, nothing reaches the upstream.
func TestEdgePathForms(t *testing.T) {
	rig := startEdgeRig(t)
	for _, target := range []string{
		"/jwt/admin;x", "/jwt/admin;", "/open/..;/key/x", "/open/..;x/jwt/admin", "/jwt/admin%3bx", "/jwt/admin%3Bx",
		"/jwt/admin%00", "/jwt/admin%2500", "/jwt/admin%0a", "/jwt/admin%0d%0aX-Auth-User:%20admin", "/jwt/admin%09", "/jwt/admin%7f", "/jwt/admin%1f",
		"/open/..%5ckey/x", "/open/..%5Ckey/x", "/open/..%255ckey/x", "/open/..\\key/x", "/open/%5c..%5ckey/x",
		"/open/..%2fkey/x", "/open/%2e%2e%2fkey/x", "/open/a%2fb", "/open/a%252fb",
		"/open/../key/x", "/open/./../key/x", "/open/%2e%2e/key/x", "/open/%2E%2E/key/x", "/open/.%2e/key/x", "/open/%2e./key/x",
		"/open/%252e%252e/key/x", "/open/%25252e%25252e/key/x", "/open/%2e/x", "/open/..",
		"/open/%c0%ae%c0%ae/key/x", "/open/%e0%80%ae%e0%80%ae/key/x", "/open/%c0%af", "/open/%ff", "/open/%zz", "/open/%2",
		"/jwt/admin%3f/x", "/jwt/admin%23x", "/jwt/admin%253f",
		"/jwt/admin.", "/jwt/admin./x", "/jwt/admin%2e", "/jwt/admin%20", "/jwt/admin%2520", "/open/...", "/open/x.%20",
		"/jwt/%2561dmin", "/jwt/adm%2569n/x",
		"http://127.0.0.1/open/x", "http://evil.example/key/x", "*",
	} {
		t.Run(target, func(t *testing.T) {
			before := rig.echoHits.Load()
			resp, body := rig.raw(t, "GET "+target+" HTTP/1.1\r\nHost: HOST\r\n\r\n")
			if resp.StatusCode == http.StatusBadRequest && !strings.HasPrefix(body, "{") {
				t.Logf("net/http refused %q itself (it cannot be parsed)", target)
				return
			}
			wantProblem(t, resp, body, http.StatusBadRequest, "bad_request", target)
			if rig.echoHits.Load() != before {
				t.Fatal("the upstream was reached")
			}
		})
	}
	t.Run("clean paths pass", func(t *testing.T) {
		for _, target := range []string{"/open/x", "/open/a%20b/caf%C3%A9?x=1;2", "/open/.well-known/x", "/open/a..b/x.y", "/open/x/"} {
			if e := rig.echo(t, "GET "+target+" HTTP/1.1\r\nHost: HOST\r\n\r\n"); e.URI != target {
				t.Errorf("upstream got %q for %q", e.URI, target)
			}
		}
	})
	rig.noErrorLogged(t)
}

// TestEdgeMethods is class 5 and the TRACE/CONNECT half of class 15.
func TestEdgeMethods(t *testing.T) {
	rig := startEdgeRig(t)
	for _, m := range []string{"post", "Post", "GeT", "get", "pOST", "DELETe", "PATCh", "options"} {
		t.Run(m, func(t *testing.T) {
			before := rig.echoHits.Load()
			resp, body := rig.raw(t, m+" /open/x HTTP/1.1\r\nHost: HOST\r\nContent-Length: 0\r\n\r\n")
			wantProblem(t, resp, body, http.StatusBadRequest, "bad_request", m)
			if rig.echoHits.Load() != before {
				t.Fatal("the upstream was reached")
			}
		})
	}
	for _, req := range []string{
		"TRACE /open/x HTTP/1.1\r\nHost: HOST\r\n\r\n",
		"TRACE * HTTP/1.1\r\nHost: HOST\r\n\r\n",
		"CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: 127.0.0.1:443\r\n\r\n",
		"CONNECT /open/x HTTP/1.1\r\nHost: HOST\r\n\r\n",
	} {
		t.Run(strings.Fields(req)[0]+" "+strings.Fields(req)[1], func(t *testing.T) {
			before := rig.echoHits.Load()
			resp, body := rig.raw(t, req)
			if resp.StatusCode == http.StatusBadRequest && !strings.HasPrefix(body, "{") {
				return // net/http refused it itself
			}
			wantProblem(t, resp, body, http.StatusMethodNotAllowed, "method_not_allowed", "")
			if resp.Header.Get("Allow") == "" {
				t.Error("405 without Allow")
			}
			if rig.echoHits.Load() != before {
				t.Fatal("the upstream was reached")
			}
		})
	}
	rig.noErrorLogged(t)
}

// TestEdgeFraming is class 8: malformed request framing is 400
// bad_request, never 502 upstream_error, and nothing is logged at ERROR.
func TestEdgeFraming(t *testing.T) {
	rig := startEdgeRig(t)
	for _, tc := range []struct{ name, path, req string }{
		{"bad chunk size", "/open/x", "Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"},
		{"bare LF chunk lines", "/open/x", "Transfer-Encoding: chunked\r\n\r\n5\nhello\n0\n\n"},
		{"overflowing chunk size", "/open/x", "Transfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\nhello\r\n0\r\n\r\n"},
		{"negative chunk size", "/open/x", "Transfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n"},
		{"chunk longer than announced", "/open/x", "Transfer-Encoding: chunked\r\n\r\n2\r\nhello\r\n0\r\n\r\n"},
		{"truncated chunk data", "/open/x", "Transfer-Encoding: chunked\r\n\r\n9\r\nhello\r\n0\r\n\r\n"},
		{"on an authenticated route", "/echo-key/x", demoKey + "Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := rig.raw(t, "POST "+tc.path+" HTTP/1.1\r\nHost: HOST\r\nContent-Type: text/plain\r\n"+tc.req)
			wantProblem(t, resp, body, http.StatusBadRequest, "bad_request", "")
		})
	}
	t.Run("content-length and chunked: one framing upstream", func(t *testing.T) {
		resp, body := rig.raw(t, "POST /open/x HTTP/1.1\r\nHost: HOST\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
		if resp.StatusCode == http.StatusOK {
			var e echoed
			_ = json.Unmarshal([]byte(body), &e)
			if e.Body != "hello" || (e.Header.Get("Content-Length") != "" && len(e.Header.Values("Transfer-Encoding")) != 0) {
				t.Fatalf("upstream got %+v", e)
			}
		} else if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
	})
	rig.noErrorLogged(t)
}

// TestEdgeH2CPriorKnowledge: with HTTP/2 over cleartext enabled on the
// listener (`protocols h1 h2c`, off by default), every stream is a
// request that runs through the site's routes and the edge like any
// other: the same refusals, nothing tunnels.
func TestEdgeH2CPriorKnowledge(t *testing.T) {
	rig := startEdgeRigWith(t, "\tservers {\n\t\tprotocols h1 h2c\n\t}\n")
	client := &http.Client{Transport: &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}}
	do := func(method, rawPath string, hdr http.Header) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, "http://"+rig.addr+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Method = method
		req.URL.Opaque = "//" + rig.addr + rawPath
		for k, v := range hdr {
			req.Header[k] = v
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, rawPath, err)
		}
		defer resp.Body.Close()
		if resp.ProtoMajor != 2 {
			t.Fatalf("not HTTP/2: %s", resp.Proto)
		}
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}
	for _, tc := range []struct{ method, path string }{
		{"GET", "/jwt/admin;x"}, {"GET", "/open/..;/key/x"}, {"GET", "/open/%2e%2e/key/x"}, {"GET", "/open/..%5ckey/x"},
		{"GET", "/jwt/admin%00"}, {"post", "/open/x"}, {"Post", "/open/x"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			before := rig.echoHits.Load()
			resp, body := do(tc.method, tc.path, nil)
			wantProblem(t, resp, body, http.StatusBadRequest, "bad_request", tc.path)
			if rig.echoHits.Load() != before {
				t.Fatal("the upstream was reached")
			}
		})
	}
	t.Run("client headers over HTTP/2", func(t *testing.T) {
		resp, body := do("GET", "/open/x", http.Header{"X-Auth-User": {"admin"}, "X-Original-Url": {"/key/x"}, "X-Real-Ip": {"10.0.0.1"}})
		var e echoed
		if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &e) != nil {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		for _, k := range []string{"X-Auth-User", "X-Original-Url", "X-Real-Ip"} {
			if e.Header.Get(k) != "" {
				t.Errorf("upstream got %s", k)
			}
		}
	})
	t.Run("keyless /key over HTTP/2", func(t *testing.T) {
		if resp, _ := do("GET", "/key/x", nil); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	rig.noErrorLogged(t)
}
