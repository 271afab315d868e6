package testutil

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// OIDCProvider is a running npm oidc-provider (js/oidc_provider.mjs): a
// real OpenID Provider with one confidential client.
type OIDCProvider struct {
	// Port is its loopback port; Issuer is http://127.0.0.1:<Port>.
	Port   int
	Issuer string
	// ClientID and ClientSecret are the registered client's.
	ClientID, ClientSecret string
	// RedirectURIs and PostLogoutURIs are registered for the client.
	RedirectURIs, PostLogoutURIs []string
	// Log collects its output.
	Log *SyncBuffer

	cmd *exec.Cmd
}

// StartOIDCProvider starts the provider on port (0: a free one) and waits
// until it listens. It is stopped when the test ends.
func StartOIDCProvider(t testing.TB, port int, clientID, secret string, redirectURIs, postLogoutURIs []string) *OIDCProvider {
	t.Helper()
	if port == 0 {
		port = FreePort(t)
	}
	p := &OIDCProvider{Port: port, Issuer: "http://127.0.0.1:" + strconv.Itoa(port), ClientID: clientID, ClientSecret: secret,
		RedirectURIs: redirectURIs, PostLogoutURIs: postLogoutURIs, Log: new(SyncBuffer)}
	p.Start(t)
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("oidc-provider log:\n%s", p.Log.String())
		}
	})
	return p
}

// Start (re)starts the provider on its port; its state (grants, tokens)
// starts empty.
func (p *OIDCProvider) Start(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(NodeDir(), "node_modules", "oidc-provider")); err != nil {
		t.Fatalf("npm oidc-provider missing: run `npm ci --prefix %s`", NodeDir())
	}
	p.cmd = exec.Command("node", "oidc_provider.mjs", strconv.Itoa(p.Port), p.ClientID, p.ClientSecret,
		strings.Join(p.RedirectURIs, ","), strings.Join(p.PostLogoutURIs, ","))
	p.cmd.Dir = NodeDir()
	p.cmd.Stderr = p.Log
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start oidc-provider: %v", err)
	}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		ok := false
		for sc.Scan() {
			line := sc.Text()
			_, _ = p.Log.Write([]byte(line + "\n"))
			if !ok && strings.HasPrefix(line, "ready ") {
				ok = true
				ready <- true
			}
		}
		if !ok {
			ready <- false
		}
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("oidc-provider exited during start:\n%s", p.Log.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("oidc-provider did not start in time:\n%s", p.Log.String())
	}
}

// Stop ends the provider process.
func (p *OIDCProvider) Stop() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
	p.cmd = nil
}

// Control calls a /test/ control route with POST and decodes the answer.
func (p *OIDCProvider) Control(t testing.TB, pathQuery string) map[string]any {
	t.Helper()
	resp, err := http.Post(p.Issuer+pathQuery, "application/json", nil)
	if err != nil {
		t.Fatalf("oidc-provider %s: %v", pathQuery, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("oidc-provider %s: %v", pathQuery, err)
	}
	return out
}

// IntrospectionCalls returns how many introspection calls it received.
func (p *OIDCProvider) IntrospectionCalls(t testing.TB) int {
	t.Helper()
	n, _ := p.Control(t, "/test/counts")["introspection"].(float64)
	return int(n)
}

// MintAccessToken returns a new opaque access token for sub with scope
// (jkt, if set, makes it sender-constrained: cnf.jkt).
func (p *OIDCProvider) MintAccessToken(t testing.TB, sub, scope, jkt string) string {
	t.Helper()
	q := "/test/token?sub=" + sub + "&scope=" + strings.ReplaceAll(scope, " ", "%20")
	if jkt != "" {
		q += "&jkt=" + jkt
	}
	tok, _ := p.Control(t, q)["access_token"].(string)
	if tok == "" {
		t.Fatal("oidc-provider minted no token")
	}
	return tok
}
