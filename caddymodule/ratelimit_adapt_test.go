package caddymodule_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddytest"
)

// TestRateLimitAdaptGolden runs the apigw_rate_limit_*.caddyfiletest cases
// of testdata/caddyfile_adapt: a Caddyfile, a "----------" line, then the
// expected JSON or, for a config that must be rejected, a substring of the
// error. (The shared runner of the authn branch runs every case; this one
// runs only the rate-limit cases so the branch can be tested alone.)
func TestRateLimitAdaptGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "caddyfile_adapt", "apigw_rate_limit_*.caddyfiletest"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no rate-limit adapt cases: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			caddyfile, expected, ok := strings.Cut(string(data), "----------")
			if !ok {
				t.Fatal("no ---------- separator")
			}
			caddyfile, expected = strings.TrimSpace(caddyfile)+"\n", strings.TrimSpace(expected)
			if strings.HasPrefix(expected, "{") {
				if !caddytest.CompareAdapt(t, f, caddyfile, "caddyfile", expected) {
					t.Errorf("adapted JSON differs from %s", f)
				}
				return
			}
			_, _, err = caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
			if err == nil || !strings.Contains(err.Error(), expected) {
				t.Fatalf("adapt error %v, want one containing %q", err, expected)
			}
		})
	}
}
