package caddymodule_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddytest"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/apigw/caddy-apigw/caddymodule"
)

// TestCaddyfileAdapt runs the golden files in testdata/caddyfile_adapt:
// a Caddyfile, a line "----------", then either the expected JSON or a
// substring of the expected adapt error (as Caddy's own
// caddytest/integration/caddyfile_adapt_test.go does).
func TestCaddyfileAdapt(t *testing.T) {
	dir := filepath.Join("testdata", "caddyfile_adapt")
	files, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("reading %s: %v", dir, err)
	}
	winNewlines := regexp.MustCompile(`\r?\n`)
	for _, f := range files {
		if f.IsDir() || !strings.HasSuffix(f.Name(), ".caddyfiletest") {
			continue
		}
		name := f.Name()
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			parts := strings.Split(string(data), "----------")
			if len(parts) != 2 {
				t.Fatalf("%s: want one ---------- separator", name)
			}
			caddyfile, expected := strings.TrimSpace(parts[0])+"\n", strings.TrimSpace(parts[1])
			expected = winNewlines.ReplaceAllString(expected, "\n")
			if len(expected) > 0 && expected[0] == '{' {
				if !caddytest.CompareAdapt(t, name, caddyfile, "caddyfile", expected) {
					t.Errorf("failed to adapt %s", name)
				}
				return
			}
			_, _, err = caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
			if err == nil {
				t.Fatalf("expected an error for %s but got none", name)
			}
			if got := winNewlines.ReplaceAllString(err.Error(), "\n"); !strings.Contains(got, expected) {
				t.Fatalf("error for %s:\n%s\nwant it to contain:\n%s", name, got, expected)
			}
		})
	}
}
