package caddymodule_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apigw/caddy-apigw/internal/testutil"
)

// TestSessionsProvisionErrors checks that JSON configs (which skip the
// Caddyfile checks) fail at provision, naming the directive and the fix.
func TestSessionsProvisionErrors(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: builds Caddy")
	}
	bin := testutil.CaddyBinary(t)
	route := func(handler string) string {
		return `{"apps":{"http":{"servers":{"s":{"listen":["127.0.0.1:0"],"routes":[{"handle":[` + handler + `]}]}}}}}`
	}
	for _, tc := range []struct{ name, config, want string }{
		{"valid", route(`{"handler":"apigw_login","accounts":[{"username":"demo","password":"$2a$04$eCdCbkz4uAAjhB0VmEI35.18K4ulAKzou1Q.9kTZnnXyxKoDD4bhS"}]}`), ""},
		{"login hash not bcrypt", route(`{"handler":"apigw_login","accounts":[{"username":"demo","password":"demo-password"}]}`), `account "demo": password is not a bcrypt hash`},
		{"login no accounts", route(`{"handler":"apigw_login"}`), "no accounts configured"},
		{"login duplicate", route(`{"handler":"apigw_login","accounts":[{"username":"a","password":"$2a$04$eCdCbkz4uAAjhB0VmEI35.18K4ulAKzou1Q.9kTZnnXyxKoDD4bhS"},{"username":"a","password":"$2a$04$eCdCbkz4uAAjhB0VmEI35.18K4ulAKzou1Q.9kTZnnXyxKoDD4bhS"}]}`), `account "a" is listed twice`},
		{"signature env unset", route(`{"handler":"apigw_signature","secrets":["{env.APIGW_TEST_UNSET_SECRET}"]}`), "apigw_signature: secret #1"},
		{"signature short", route(`{"handler":"apigw_signature","secrets":["short"]}`), "use at least 32 random bytes"},
		{"csrf mode", route(`{"handler":"apigw_csrf","mode":"maybe"}`), `mode "maybe": use origin or double_submit`},
		{"csrf origin", route(`{"handler":"apigw_csrf","trusted_origins":["example.com"]}`), "is not an origin"},
		{"authorize empty", route(`{"handler":"apigw_authorize"}`), "no requirement"},
		{"session same_site", `{"apps":{"apigw":{"session":{"same_site":"none"}},"http":{"servers":{"s":{"listen":["127.0.0.1:0"],"routes":[{"handle":[{"handler":"apigw_logout"}]}]}}}}}`, `same_site "none" is not supported`},
		{"session idle > lifetime", `{"apps":{"apigw":{"session":{"idle_timeout":7200000000000,"lifetime":3600000000000}},"http":{"servers":{"s":{"listen":["127.0.0.1:0"],"routes":[{"handle":[{"handler":"apigw_logout"}]}]}}}}}`, "is longer than lifetime"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "caddy.json")
			if err := os.WriteFile(path, []byte(tc.config), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(bin, "validate", "--config", path)
			cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "XDG_DATA_HOME="+t.TempDir(), "XDG_CONFIG_HOME="+t.TempDir())
			out, err := cmd.CombinedOutput()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("valid config rejected: %s", out)
				}
				return
			}
			if err == nil || !strings.Contains(strings.ReplaceAll(string(out), `\"`, `"`), tc.want) {
				t.Fatalf("validate: %v\n%s\nwant error containing %q", err, out, tc.want)
			}
		})
	}
}
