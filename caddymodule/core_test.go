package caddymodule

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apigw/caddy-apigw/internal/testutil"
)

// problemBody is the decoded problem JSON of a response.
type problemBody struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail"`
	Code      string `json:"code"`
	RequestID string `json:"request_id"`
}

func readProblem(t *testing.T, resp *http.Response) problemBody {
	t.Helper()
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q, want application/problem+json; body %s", ct, b)
	}
	var p problemBody
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("problem JSON %s: %v", b, err)
	}
	if p.RequestID == "" || p.RequestID != resp.Header.Get("X-Request-ID") {
		t.Errorf("request_id %q vs X-Request-ID header %q", p.RequestID, resp.Header.Get("X-Request-ID"))
	}
	return p
}

// TestCoreProblemRendering runs a real Caddy whose only caddy-apigw
// directive is apigw_errors, and checks that Caddy-raised errors and
// upstream 5xx leave as problem JSON without leaking the original text.
func TestCoreProblemRendering(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "leaky/1.0")
		w.Header().Set("X-Powered-By", "PHP/5.3")
		switch r.URL.Path {
		case "/boom":
			w.WriteHeader(500)
			io.WriteString(w, "panic: runtime error at /srv/app/main.go:42 password=hunter2")
		case "/teapot":
			w.WriteHeader(418)
			io.WriteString(w, `{"upstream":"4xx passes"}`)
		default:
			io.WriteString(w, `{"ok":true}`)
		}
	}))
	defer upstream.Close()
	deadPort := testutil.FreePort(t)

	cfg := filepath.Join(t.TempDir(), "Caddyfile")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`{
	admin {$APIGW_ADMIN}
	auto_https off
	apigw {
		store memory
	}
}
http://:{$APIGW_HTTP_PORT} {
	bind 127.0.0.1
	apigw_errors
	handle /up/* {
		uri strip_prefix /up
		reverse_proxy %s
	}
	handle /dead {
		reverse_proxy 127.0.0.1:%d
	}
	handle {
		error "secret internal text" 404
	}
}
`, upstream.Listener.Addr(), deadPort)), 0o644)
	c := testutil.StartCaddy(t, testutil.Options{Config: cfg})

	for _, tc := range []struct {
		name, path string
		status     int
		code       string
	}{
		{"caddy 404 hides its text", "/nope", 404, "not_found"},
		{"upstream 500 scrubbed, status kept", "/up/boom", 500, "upstream_error"},
		{"upstream down", "/dead", 502, "upstream_error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Get(c.URL(tc.path))
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.status)
			}
			for _, h := range []string{"Server", "X-Powered-By"} {
				if v := resp.Header.Get(h); v != "" && v != "Caddy" {
					t.Errorf("%s leaked: %q", h, v)
				}
			}
			p := readProblem(t, resp)
			if p.Code != tc.code || p.Status != tc.status || p.Type != "about:blank" {
				t.Errorf("problem %+v, want code %s status %d", p, tc.code, tc.status)
			}
			for _, leak := range []string{"secret internal", "panic", "hunter2", "/srv/app"} {
				if strings.Contains(p.Detail, leak) {
					t.Errorf("detail leaks %q: %q", leak, p.Detail)
				}
			}
		})
	}

	t.Run("upstream 4xx passes through", func(t *testing.T) {
		resp, err := http.Get(c.URL("/up/teapot"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 418 || !strings.Contains(string(b), "4xx passes") {
			t.Errorf("got %d %s", resp.StatusCode, b)
		}
		if v := resp.Header.Get("X-Powered-By"); v != "" {
			t.Errorf("X-Powered-By leaked: %q", v)
		}
	})

	t.Run("upstream trace only in the log", func(t *testing.T) {
		// the log reaches us through a pipe: give the copier a moment
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(c.Log.String(), "upstream error scrubbed") {
			if time.Now().After(deadline) {
				t.Fatalf("scrubbed upstream error was not logged")
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// TestCoreBadStoreFailsAdapt checks that a wrong store URL in the global
// option is refused by `caddy adapt` with a message naming the option.
func TestCoreBadStoreFailsAdapt(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	bin := testutil.CaddyBinary(t)
	for _, tc := range []struct{ name, store, want string }{
		{"unknown scheme", "mysql://db", "unknown store"},
		{"redis without host", "redis://", "has no host"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := filepath.Join(t.TempDir(), "Caddyfile")
			os.WriteFile(cfg, []byte("{\n\tapigw {\n\t\tstore "+tc.store+"\n\t}\n}\n:8080 {\n\trespond ok\n}\n"), 0o644)
			out, err := exec.Command(bin, "adapt", "--config", cfg, "--adapter", "caddyfile").CombinedOutput()
			if err == nil {
				t.Fatalf("adapt accepted store %q: %s", tc.store, out)
			}
			if !strings.Contains(string(out), "apigw store") || !strings.Contains(string(out), tc.want) {
				t.Errorf("error does not name the option and problem: %s", out)
			}
		})
	}
}
