package caddymodule_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apigw/caddy-apigw/internal/testutil"
)

// corsPage fetches from the gateway with credentials, a non-simple
// method and headers (so the browser sends a preflight), and posts what
// it could read back to the page's own server.
const corsPage = `<!doctype html><meta charset="utf-8"><title>cors</title><script>
(async () => {
  const gw = %q;
  const out = {};
  try {
    const r = await fetch(gw + "/open/cors", {method: "PUT", credentials: "include",
      headers: {"Content-Type": "application/json", "X-API-Key": "k"}, body: "{}"});
    out.status = r.status;
    out.requestId = r.headers.get("X-Request-ID");
    out.rateLimit = r.headers.get("RateLimit");
    out.rateLimitPolicy = r.headers.get("RateLimit-Policy");
    out.body = await r.text();
  } catch (e) { out.error = String(e); }
  try {
    const r = await fetch(gw + "/private/x", {method: "DELETE", credentials: "include"});
    out.privateStatus = r.status;
    out.privateRequestId = r.headers.get("X-Request-ID");
    out.privateCode = (await r.json()).code;
  } catch (e) { out.privateError = String(e); }
  await fetch("/result", {method: "POST", body: JSON.stringify(out)});
})();
</script>`

type corsResult struct {
	Status           int    `json:"status"`
	RequestID        string `json:"requestId"`
	RateLimit        string `json:"rateLimit"`
	RateLimitPolicy  string `json:"rateLimitPolicy"`
	Body             string `json:"body"`
	Error            string `json:"error"`
	PrivateStatus    int    `json:"privateStatus"`
	PrivateRequestID string `json:"privateRequestId"`
	PrivateCode      string `json:"privateCode"`
	PrivateError     string `json:"privateError"`
}

// pageServer serves corsPage on host:port and delivers the posted result.
func pageServer(t *testing.T, host string, gateway string) (origin string, results <-chan corsResult) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan corsResult, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("/page.html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, corsPage, gateway)
	})
	mux.HandleFunc("/result", func(w http.ResponseWriter, r *http.Request) {
		var res corsResult
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &res); err != nil {
			t.Errorf("bad result %q: %v", b, err)
		}
		select {
		case ch <- res:
		default:
		}
	})
	mux.HandleFunc("/favicon.ico", http.NotFound)
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + host + ":" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port), ch
}

// runChromium opens url in headless Debian chromium until ctx ends.
func runChromium(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium not found: apt-get install -y chromium (test.sh does)")
	}
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+t.TempDir(), url)
	var log testutil.SyncBuffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("chromium log:\n%s", log.String())
		}
	})
}

// TestCORSInChromium: a page on the allowed origin can call the gateway
// with credentials (preflight answered before auth) and read the exposed
// RateLimit and X-Request-ID headers, also on an auth failure; a page on
// another origin cannot read anything.
func TestCORSInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	gwPort := testutil.FreePort(t)
	gateway := "http://127.0.0.1:" + strconv.Itoa(gwPort)
	allowedOrigin, allowedResults := pageServer(t, "localhost", gateway)
	otherOrigin, otherResults := pageServer(t, "127.0.0.1", gateway)

	cfg := filepath.Join(t.TempDir(), "Caddyfile")
	err := os.WriteFile(cfg, []byte(`{
	admin {$APIGW_ADMIN}
	auto_https off
}
http://127.0.0.1:{$APIGW_HTTP_PORT} {
	apigw_request_id
	apigw_cors {
		origins {$ALLOWED_ORIGIN}
		credentials
	}
	apigw_security_headers
	apigw_errors
	handle /open/* {
		header RateLimit "limit=100, remaining=99, reset=60"
		header RateLimit-Policy "100;w=60"
		respond `+"`"+`{"ok":true}`+"`"+` 200
	}
	handle /private/* {
		basic_auth {
			demo $2a$14$Zkx19XLiW6VYouLHR5NmfOFU0z2GTNmpkT/5qqR7hx4IjWJPDhjvG
		}
		respond "secret"
	}
}
`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	testutil.StartCaddy(t, testutil.Options{Config: cfg, HTTPPort: gwPort, Env: []string{"ALLOWED_ORIGIN=" + allowedOrigin}})

	t.Run("allowed origin", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		runChromium(t, ctx, allowedOrigin+"/page.html")
		var res corsResult
		select {
		case res = <-allowedResults:
		case <-time.After(60 * time.Second):
			t.Fatal("the page reported nothing")
		}
		if res.Error != "" || res.Status != 200 || res.Body != `{"ok":true}` {
			t.Fatalf("credentialed PUT failed: %+v", res)
		}
		if !strings.HasPrefix(res.RateLimit, "limit=100") || res.RateLimitPolicy != "100;w=60" || len(res.RequestID) != 36 {
			t.Fatalf("exposed headers not readable: %+v", res)
		}
		if res.PrivateError != "" || res.PrivateStatus != 401 || res.PrivateCode != "missing_credentials" || len(res.PrivateRequestID) != 36 {
			t.Fatalf("auth failure not readable cross-origin (preflight must pass before auth): %+v", res)
		}
	})

	t.Run("other origin", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		runChromium(t, ctx, otherOrigin+"/page.html")
		var res corsResult
		select {
		case res = <-otherResults:
		case <-time.After(60 * time.Second):
			t.Fatal("the page reported nothing")
		}
		if res.Error == "" || res.Status != 0 || res.RequestID != "" || res.PrivateError == "" {
			t.Fatalf("a foreign origin could read responses: %+v", res)
		}
	})
}
