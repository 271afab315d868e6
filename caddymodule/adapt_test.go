package caddymodule

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddytest"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

// updateGolden rewrites a golden file's expected JSON with what the
// adapter gives now (APIGW_UPDATE_GOLDEN=1 go test -run TestCaddyfileAdapt);
// read the diff before committing it.
func updateGolden(t *testing.T, file, caddyfile string) {
	t.Helper()
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, out, "", "\t"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(strings.TrimRight(caddyfile, "\n")+"\n----------\n"+pretty.String()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestCaddyfileAdapt runs the golden files in testdata/caddyfile_adapt:
// each <directive>_<case>.caddyfiletest holds a Caddyfile, a line
// `----------`, and either the expected JSON of `caddy adapt` or a
// substring of the expected adapt error. Adapted from Caddy's own
// caddytest/integration/caddyfile_adapt_test.go.
func TestCaddyfileAdapt(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "caddyfile_adapt", "*.caddyfiletest"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no golden files in testdata/caddyfile_adapt")
	}
	newlines := regexp.MustCompile(`\r?\n`)
	for _, file := range files {
		name := filepath.Base(file)
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			caddyfile, expected, ok := strings.Cut(string(data), "----------")
			if !ok {
				t.Fatalf("%s has no ---------- separator", name)
			}
			caddyfile = strings.TrimSpace(caddyfile) + "\n"
			expected = newlines.ReplaceAllString(strings.TrimSpace(expected), "\n")
			if strings.HasPrefix(expected, "{") {
				if os.Getenv("APIGW_UPDATE_GOLDEN") != "" {
					updateGolden(t, file, caddyfile)
					return
				}
				if !caddytest.CompareAdapt(t, name, caddyfile, "caddyfile", expected) {
					t.Errorf("adapting %s did not give the expected JSON", name)
				}
				return
			}
			_, _, err = caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
			if err == nil {
				t.Fatalf("%s: expected an adapt error containing %q, got none", name, expected)
			}
			if got := newlines.ReplaceAllString(err.Error(), "\n"); !strings.Contains(got, expected) {
				t.Fatalf("%s: adapt error\n%s\ndoes not contain\n%s", name, got, expected)
			}
		})
	}
}
