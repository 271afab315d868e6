package caddymodule_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/apigw/caddy-apigw/internal/testutil"
)

// TestDemoReloadUnderLoad: 8 `caddy reload --force` while 4 clients send
// requests through the demo's proxy routes give no failed response (each
// reload restarts the demo upstream's server, closing the proxy's
// keep-alive connections to it).
func TestDemoReloadUnderLoad(t *testing.T) {
	soRequireDemo(t)
	bin := testutil.CaddyBinary(t)
	example := filepath.Join(testutil.RepoRoot(), "Caddyfile.example")
	c := testutil.StartCaddy(t, testutil.Options{})

	stop := make(chan struct{})
	var total, failed atomic.Int64
	var mu sync.Mutex
	var failures []string
	var wg sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var req *http.Request
				if w%2 == 0 {
					req, _ = http.NewRequest(http.MethodGet, c.URL("/open/x"), nil)
				} else {
					// a body the proxy must send again if it retries
					req, _ = http.NewRequest(http.MethodPost, c.URL("/open/x"), bytes.NewReader([]byte(`{"n":1}`)))
					req.Header.Set("Content-Type", "application/json")
					// lets the client resend it on a keep-alive connection the
					// old server closed as idle before reading it (RFC 9110
					// §9.2.2; Go's transport honours this header)
					req.Header.Set("Idempotency-Key", fmt.Sprintf("%d-%d", w, i))
				}
				resp, err := client.Do(req)
				total.Add(1)
				if err != nil {
					failed.Add(1)
					mu.Lock()
					failures = append(failures, err.Error())
					mu.Unlock()
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode/100 != 2 {
					failed.Add(1)
					mu.Lock()
					failures = append(failures, fmt.Sprintf("%s %d %s", req.Method, resp.StatusCode, body))
					mu.Unlock()
				}
			}
		}(w)
	}
	for i := 0; i < 8; i++ {
		cmd := exec.Command(bin, "reload", "--config", example, "--adapter", "caddyfile", "--address", c.AdminAddr, "--force")
		cmd.Env = c.Env
		if out, err := cmd.CombinedOutput(); err != nil {
			close(stop)
			wg.Wait()
			t.Fatalf("caddy reload --force: %v\n%s", err, out)
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("%d requests during 8 reloads, %d failed", total.Load(), failed.Load())
	if failed.Load() != 0 {
		t.Fatalf("%d of %d requests failed during reloads: %q", failed.Load(), total.Load(), failures)
	}
}
