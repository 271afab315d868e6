package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile" // the caddyfile adapter
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/apigw/caddy-apigw" // registers our directives, as in the binary

	"github.com/apigw/caddy-apigw/internal/testutil"
)

var (
	registeredMu sync.Mutex
	registeredAt = map[string]bool{}
)

// directiveRegistered reports whether the Caddyfile directive name is
// registered in this build (this test process links the same packages as
// the gateway binary it runs). It adapts a one-line site and looks for
// Caddy's "unrecognized directive" error: a registered directive fails (if at
// all) for its missing arguments instead.
func directiveRegistered(name string) bool {
	registeredMu.Lock()
	defer registeredMu.Unlock()
	if v, ok := registeredAt[name]; ok {
		return v
	}
	_, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte("http://127.0.0.1:1 {\n\t"+name+"\n}\n"), nil)
	ok := err == nil || !strings.Contains(err.Error(), "unrecognized directive: "+name)
	registeredAt[name] = ok
	return ok
}

// requireDirectives skips the (sub)test when one of the directives has not
// landed in this build yet, naming it.
func requireDirectives(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		if !directiveRegistered(n) {
			t.Skipf("directive %s is not registered in this build yet", n)
		}
	}
}

var apigwWord = regexp.MustCompile(`\bapigw_[a-z_]+\b`)

// tlsCaddyfile writes examples/Caddyfile.tls with the test's global options
// (ports, Pebble as the ACME CA and its root, the storage directory, all as
// {$ENV} placeholders) added at the top of its global block, and returns its
// path. Site-level items (directive lines and `handle` blocks) that use a
// directive not registered in this build are left out, so the test can run
// on a branch where only part of the chain has landed; the names of the
// left-out directives are returned, sorted.
func tlsCaddyfile(t *testing.T) (string, []string) {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), "examples", "Caddyfile.tls"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(src), "\n")
	var out []string
	missing := map[string]bool{}
	globalsDone := false
	inSite := false
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		switch {
		case !globalsDone && line == "{":
			out = append(out, line,
				"\thttp_port {$APIGW_HTTP_PORT}",
				"\thttps_port {$APIGW_HTTPS_PORT}",
				"\tacme_ca {$APIGW_TEST_ACME_CA}",
				"\tacme_ca_root {$APIGW_TEST_ACME_ROOT}",
				"\tstorage file_system {$APIGW_TEST_STORAGE}",
			)
			globalsDone = true
			continue
		case globalsDone && !inSite && strings.HasSuffix(line, " {") && !strings.HasPrefix(line, "\t"):
			inSite = true
		case inSite && line == "}":
			inSite = false
		case inSite && strings.HasPrefix(line, "\t") && !strings.HasPrefix(line, "\t\t"):
			// one site-level item: a line, or a block up to its closing "\t}"
			item := []string{line}
			if strings.HasSuffix(line, "{") {
				for i+1 < len(lines) {
					i++
					item = append(item, lines[i])
					if lines[i] == "\t}" {
						break
					}
				}
			}
			drop := false
			for _, w := range apigwWord.FindAllString(strings.Join(item, "\n"), -1) {
				if !directiveRegistered(w) {
					missing[w] = true
					drop = true
				}
			}
			if !drop {
				out = append(out, item...)
			}
			continue
		}
		out = append(out, line)
	}
	if !globalsDone {
		t.Fatal("examples/Caddyfile.tls has no global options block")
	}
	path := filepath.Join(t.TempDir(), "Caddyfile.tls")
	if err := os.WriteFile(path, []byte(strings.Join(out, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	var names []string
	for n := range missing {
		names = append(names, n)
	}
	sort.Strings(names)
	return path, names
}

// TestCaddyfileTLSNeedsItsSecrets checks the promise at the top of
// examples/Caddyfile.tls: every secret and identity-provider setting comes
// from the environment, and leaving one unset stops the config at adapt
// time with an error naming the directive that needs it, instead of
// starting a gateway with an empty secret.
func TestCaddyfileTLSNeedsItsSecrets(t *testing.T) {
	requireDirectives(t, "apigw_login", "apigw_api_key", "apigw_jwt", "apigw_rate_limit", "apigw_validate")
	src, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), "examples", "Caddyfile.tls"))
	if err != nil {
		t.Fatal(err)
	}
	full := map[string]string{
		"APIGW_DOMAIN":       "api.example.com",
		"APIGW_LOGIN_USER":   "alice",
		"APIGW_LOGIN_BCRYPT": "$2a$12$lJuEbhtsGwya1iIPjDSjx.5OkQlrG7HsGlfjr/ewXU91VKBHRqqWq",
		"APIGW_KEY_SHA256":   "0b2c109e25ac7d47cc0c56f999832031c7391890ee1893f299b5df9a9256f1d1",
		"JWT_SECRET":         "tls-test-jwt-secret-0123456789abcdef0123",
		"APIGW_JWKS_URL":     "https://idp.example.com/.well-known/jwks.json",
		"APIGW_JWT_ISSUER":   "https://idp.example.com/",
		"APIGW_JWT_AUDIENCE": "api.example.com",
	}
	for _, tc := range []struct {
		unset, directive string
		// atRuntime: a {env.X} secret, read when the config loads (so it
		// stays out of adapt output, GET /config/ and autosave.json):
		// adapt succeeds, provisioning fails naming the directive
		atRuntime bool
	}{
		{"", "", false},
		{"APIGW_LOGIN_USER", "apigw_login", false},
		{"APIGW_LOGIN_BCRYPT", "apigw_login", false},
		{"APIGW_KEY_SHA256", "apigw_api_key", false},
		{"JWT_SECRET", "apigw_jwt", true},
		{"APIGW_JWKS_URL", "apigw_jwt", false},
		{"APIGW_JWT_ISSUER", "apigw_jwt", false},
		{"APIGW_JWT_AUDIENCE", "apigw_jwt", false},
	} {
		name := "all set"
		if tc.unset != "" {
			name = tc.unset + " unset"
		}
		t.Run(name, func(t *testing.T) {
			for k, v := range full {
				if k == tc.unset {
					v = ""
				}
				t.Setenv(k, v)
			}
			cfgJSON, _, err := caddyconfig.GetAdapter("caddyfile").Adapt(src, map[string]any{"filename": "Caddyfile.tls"})
			if tc.atRuntime {
				if err != nil {
					t.Fatalf("adapt with %s unset (read at runtime): %v", tc.unset, err)
				}
				if !strings.Contains(string(cfgJSON), "{env."+tc.unset+"}") {
					t.Fatalf("the adapted config does not keep {env.%s} as a placeholder", tc.unset)
				}
				var cfg caddy.Config
				if err := json.Unmarshal(cfgJSON, &cfg); err != nil {
					t.Fatal(err)
				}
				err = caddy.Validate(&cfg)
				if err == nil {
					t.Fatalf("provisioning succeeded with %s unset", tc.unset)
				}
				if !strings.Contains(err.Error(), tc.directive) {
					t.Fatalf("provisioning error does not name %s: %v", tc.directive, err)
				}
				return
			}
			switch {
			case tc.unset == "" && err != nil:
				t.Fatalf("adapt with every variable set: %v", err)
			case tc.unset != "" && err == nil:
				t.Fatalf("adapt succeeded with %s unset", tc.unset)
			case tc.unset != "" && !strings.Contains(err.Error(), "'"+tc.directive+"'"):
				t.Fatalf("error does not name %s: %v", tc.directive, err)
			}
		})
	}
}
