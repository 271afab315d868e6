package caddymodule

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apigw/caddy-apigw/internal/testutil"
)

var jwksErrorsRE = regexp.MustCompile(`apigw_jwks_fetches_total\{result="error"\} (\d+)`)

// TestJWKSOutageLogged: the JWKS host stops answering while requests and
// background refreshes keep failing: one WARN naming the host and the
// error, a counter, and one INFO when it is back.
func TestJWKSOutageLogged(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts the gateway")
	}
	_, jwk := newES256(t, "k1")
	keyJSON, err := json.Marshal(jwk)
	if err != nil {
		t.Fatal(err)
	}
	body := `{"keys":[` + string(keyJSON) + `]}`
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	serve := func(ln net.Listener) *http.Server {
		s := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, body)
		})}
		go func() { _ = s.Serve(ln) }()
		return s
	}
	srv := serve(ln)
	c := testutil.StartCaddy(t, testutil.Options{Config: "testdata/jwks_outage.caddyfile",
		Env: []string{"TEST_JWKS_URL=http://" + addr + "/jwks.json"}})
	errorsCounted := func() int {
		resp, err := http.Get(c.AdminURL("/metrics"))
		if err != nil {
			return 0
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if m := jwksErrorsRE.FindSubmatch(b); m != nil {
			n, _ := strconv.Atoi(string(m[1]))
			return n
		}
		return 0
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if ok() {
				return
			}
		}
		t.Fatalf("timed out waiting for %s", what)
	}
	count := func(msg string) int { return strings.Count(c.Log.String(), msg) }

	_ = srv.Close()
	// requests with an unknown kid during the outage: no line each
	tok := "Bearer " + mintJose(t, "HS256", demoJWTSecret, map[string]any{"sub": "a", "exp": time.Now().Add(time.Hour).Unix()}, map[string]any{"kid": "unknown"})
	for range 5 {
		ecDo(t, "GET", c.URL("/"), "", "Authorization", tok)
	}
	waitFor("3 failed fetches", func() bool { return errorsCounted() >= 3 })
	if n := count("JWKS fetch failing"); n != 1 {
		t.Fatalf("%d WARN lines for one outage, want 1", n)
	}
	for _, line := range strings.Split(c.Log.String(), "\n") {
		if strings.Contains(line, "JWKS fetch failing") && (!strings.Contains(line, `"jwks_host":"`+addr+`"`) || !strings.Contains(line, `"error":"fetching jwks: `) || !strings.Contains(line, `"level":"warn"`)) {
			t.Fatalf("the WARN names no host or error: %s", line)
		}
	}
	ln2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("reopening the JWKS address: %v", err)
	}
	srv = serve(ln2)
	t.Cleanup(func() { _ = srv.Close() })
	waitFor("the recovery line", func() bool { return count("JWKS fetch recovered") > 0 })
	time.Sleep(2 * time.Second) // a few more successful refreshes: no more lines
	if f, r := count("JWKS fetch failing"), count("JWKS fetch recovered"); f != 1 || r != 1 {
		t.Fatalf("failing %d, recovered %d, want 1 and 1", f, r)
	}
	for _, line := range strings.Split(c.Log.String(), "\n") {
		if strings.Contains(line, "JWKS fetch recovered") && !strings.Contains(line, `"level":"info"`) {
			t.Fatalf("recovery not at INFO: %s", line)
		}
	}
}
