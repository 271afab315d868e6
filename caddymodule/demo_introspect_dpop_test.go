package caddymodule_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/apigw/caddy-apigw/internal/testutil"
)

// TestDemoIntrospectDPoP runs Caddyfile.example with "dpop allowed" added
// to the /introspect route, against npm oidc-provider: an opaque token the
// provider bound to a key (cnf.jkt in its introspection answer) passes
// with a proof by that key made by the npm dpop package, and the upstream
// sees method dpop and neither credential; the same token as Bearer, a
// replayed proof, and a proof by another key are refused.
func TestDemoIntrospectDPoP(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts Caddy, oidc-provider and node")
	}
	src, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), "Caddyfile.example"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(src), "\t\t\tnegative_cache_ttl 5s\n", "\t\t\tnegative_cache_ttl 5s\n\t\t\tdpop allowed\n", 1)
	if cfg == string(src) {
		t.Fatal("Caddyfile.example's /introspect route has no \"negative_cache_ttl 5s\" line")
	}
	path := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	port := testutil.FreePort(t)
	gw := "http://127.0.0.1:" + strconv.Itoa(port)
	op := testutil.StartOIDCProvider(t, 0, oxClientID, oxClientSecret, []string{gw + "/auth/callback"}, []string{gw + "/"})
	c := testutil.StartCaddy(t, testutil.Options{Config: path, HTTPPort: port, Env: []string{
		"APIGW_OIDC_ISSUER=" + op.Issuer, "APIGW_OIDC_CLIENT_SECRET=" + oxClientSecret,
	}})

	keyFile := filepath.Join(t.TempDir(), "k.jwk")
	keys := map[string]any{"k": map[string]any{"alg": "ES256", "file": keyFile}, "other": map[string]any{"alg": "ES256"}}
	jkt := npmDPoP(t, map[string]any{"keys": keys}).JKT["k"]
	tok := op.MintAccessToken(t, "bob", "read", jkt)
	htu := c.URL("/introspect/x")
	out := npmDPoP(t, map[string]any{"keys": keys, "proofs": map[string]any{
		"good":  map[string]any{"key": "k", "htm": "GET", "htu": htu, "token": tok},
		"other": map[string]any{"key": "other", "htm": "GET", "htu": htu, "token": tok},
	}})
	if out.JKT["k"] != jkt {
		t.Fatal("the proof key changed between runs")
	}
	get := func(hdr ...string) sxResult { return sxDo(t, "GET", htu, "", hdr...) }

	t.Run("bound token with its proof", func(t *testing.T) {
		r := get("Authorization", "DPoP "+tok, "DPoP", out.Proofs["good"])
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		hdr, _ := r.json["headers"].(map[string]any)
		if hdr["x-auth-user"] != "bob" || hdr["x-auth-method"] != "dpop" || hdr["authorization"] != "" || hdr["dpop"] != "" {
			t.Fatalf("upstream saw %v", hdr)
		}
	})
	t.Run("replayed proof", func(t *testing.T) {
		sxExpectProblem(t, get("Authorization", "DPoP "+tok, "DPoP", out.Proofs["good"]), 401, "invalid_dpop_proof")
	})
	t.Run("proof by another key", func(t *testing.T) {
		sxExpectProblem(t, get("Authorization", "DPoP "+tok, "DPoP", out.Proofs["other"]), 401, "invalid_token")
	})
	t.Run("bound token as Bearer", func(t *testing.T) {
		r := get("Authorization", "Bearer "+tok)
		sxExpectProblem(t, r, 401, "invalid_token")
		if ch := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(ch, "DPoP ") || !strings.Contains(ch, `error="invalid_token"`) {
			t.Fatalf("WWW-Authenticate %q", ch)
		}
	})
	t.Run("unbound token as Bearer", func(t *testing.T) {
		if r := get("Authorization", "Bearer "+op.MintAccessToken(t, "alice", "read", "")); r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
	t.Run("no token or proof in the log", func(t *testing.T) {
		if log := c.Log.String(); strings.Contains(log, tok) || strings.Contains(log, out.Proofs["good"]) {
			t.Fatal("a token or proof is in the log")
		}
	})
}

// npmDPoP runs internal/testutil/js/dpop.mjs (npm dpop) on spec.
func npmDPoP(t *testing.T, spec map[string]any) (out struct {
	JKT    map[string]string `json:"jkt"`
	Proofs map[string]string `json:"proofs"`
}) {
	t.Helper()
	raw, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(testutil.Node(t, "dpop.mjs", string(raw))), &out); err != nil {
		t.Fatal(err)
	}
	return out
}
