package caddymodule_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/apigw/caddy-apigw/internal/testutil"
)

// TestRequestTrailersNeverReachUpstream: Caddy's reverse_proxy forwards
// request trailers, which no header_up or request_header removes; a
// client must not get Authorization, DPoP, Signature or X-Auth-User to
// the upstream that way. apigw_edge (which the site gets with
// apigw_request_id) drops them.
func TestRequestTrailersNeverReachUpstream(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts Caddy")
	}
	var mu sync.Mutex
	var got http.Header
	var gotBody string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got, gotBody = r.Trailer.Clone(), string(b)
		mu.Unlock()
		fmt.Fprint(w, "ok")
	}))
	t.Cleanup(up.Close)
	cfg := filepath.Join(t.TempDir(), "Caddyfile")
	err := os.WriteFile(cfg, []byte(`{
	admin {$APIGW_ADMIN}
	auto_https off
}
http://127.0.0.1:{$APIGW_HTTP_PORT} {
	apigw_request_id
	reverse_proxy `+strings.TrimPrefix(up.URL, "http://")+`
}
`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	c := testutil.StartCaddy(t, testutil.Options{Config: cfg})
	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", c.HTTPPort))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = io.WriteString(conn, "POST /x HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"+
		"Trailer: Authorization, DPoP, Signature, X-Auth-User\r\nConnection: close\r\n\r\n"+
		"5\r\nhello\r\n0\r\nAuthorization: Bearer trailer-token\r\nDPoP: trailer-proof\r\n"+
		"Signature: sig1=:AAAA:\r\nX-Auth-User: admin\r\n\r\n")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	mu.Lock()
	defer mu.Unlock()
	if resp.StatusCode != http.StatusOK || gotBody != "hello" {
		t.Fatalf("status %d, upstream body %q", resp.StatusCode, gotBody)
	}
	if len(got) != 0 {
		t.Fatalf("the upstream got request trailers: %v", got)
	}
}
