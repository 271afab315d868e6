package caddymodule

import (
	"bytes"
	"net/http"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/apigw/caddy-apigw/internal/testutil"
)

// TestDemoAdaptAndLoad checks DESIGN.md's promise that `caddy adapt` of
// Caddyfile.example gives JSON that the admin API's POST /load accepts.
func TestDemoAdaptAndLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	bin := testutil.CaddyBinary(t)
	example := filepath.Join(testutil.RepoRoot(), "Caddyfile.example")
	c := testutil.StartCaddy(t, testutil.Options{})

	cmd := exec.Command(bin, "adapt", "--config", example, "--adapter", "caddyfile")
	cmd.Env = c.Env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cfg, err := cmd.Output()
	if err != nil {
		t.Fatalf("caddy adapt Caddyfile.example: %v\n%s", err, stderr.String())
	}
	resp, err := http.Post(c.AdminURL("/load"), "application/json", bytes.NewReader(cfg))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /load of the adapted demo: %d", resp.StatusCode)
	}
	// the reloaded gateway still serves
	r2, err := http.Get(c.URL("/open/ping"))
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != http.StatusOK {
		t.Errorf("GET /open/ping after reload: %d", r2.StatusCode)
	}
}
