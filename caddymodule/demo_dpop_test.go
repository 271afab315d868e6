package caddymodule

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apigw/caddy-apigw/internal/testutil"
)

// The DPoP demo tests run the real binary on Caddyfile.example's /dpop/*
// route. Proofs come from the npm dpop package (or npm jose, for the
// malformed ones dpop refuses to make) and tokens from npm jose, signed by
// the demo JWKS key: no proof or token in these tests is made by our code.

// dpopSpec is the input of internal/testutil/js/dpop.mjs.
type dpopSpec struct {
	Keys   map[string]map[string]any `json:"keys,omitempty"`
	Tokens map[string]map[string]any `json:"tokens,omitempty"`
	Proofs map[string]map[string]any `json:"proofs,omitempty"`
}

type dpopOut struct {
	JKT    map[string]string `json:"jkt"`
	Tokens map[string]string `json:"tokens"`
	Proofs map[string]string `json:"proofs"`
}

func runDPoPScript(t *testing.T, spec dpopSpec) dpopOut {
	t.Helper()
	raw, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	var out dpopOut
	if err := json.Unmarshal([]byte(testutil.Node(t, "dpop.mjs", string(raw))), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// dpopDo sends one request; host, when set, replaces the Host header (a
// load balancer in front of several instances).
func dpopDo(t *testing.T, method, url, host string, header http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header
	if host != "" {
		req.Host = host
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

func dpopHeaders(token string, proofs ...string) http.Header {
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "DPoP "+token)
	}
	for _, p := range proofs {
		h.Add("DPoP", p)
	}
	return h
}

// dpopTokenClaims are the claims of a token the /dpop route accepts.
func dpopTokenClaims(issuer, sub string) map[string]any {
	return map[string]any{"sub": sub, "iss": issuer, "aud": "caddy-apigw-demo",
		"exp": time.Now().Add(10 * time.Minute).Unix(), "scope": "read"}
}

func dpopToken(key, issuer, sub string) map[string]any {
	t := map[string]any{"claims": dpopTokenClaims(issuer, sub), "alg": "ES256",
		"signer": filepath.Join(demoKeysDir, "oidc-es256.key.pem"), "kid": "demo-es256"}
	if key != "" {
		t["key"] = key
	}
	return t
}

func expectDPoPUpstream(t *testing.T, resp *http.Response, body []byte, user string) {
	t.Helper()
	expectUpstream(t, resp, body, user, "dpop")
	var echo upstreamEcho
	_ = json.Unmarshal(body, &echo)
	if echo.Headers["dpop"] != "" {
		t.Fatalf("the DPoP proof reached the upstream: %s", body)
	}
}

func expectDPoPProblem(t *testing.T, resp *http.Response, body []byte, code, wwwError string) {
	t.Helper()
	expectProblem(t, resp, body, http.StatusUnauthorized, code)
	want := `DPoP algs="ES256 RS256 EdDSA", error="` + wwwError + `", error_description=`
	if got := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, want) {
		t.Fatalf("WWW-Authenticate %q, want prefix %q", got, want)
	}
}

func TestDemoDPoP(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts the gateway and node")
	}
	c := testutil.StartCaddy(t, testutil.Options{})
	issuer := "http://127.0.0.1:" + strconv.Itoa(c.UpstreamPort)
	url := c.URL("/dpop/items")
	htu := url
	proof := func(key, htm, u, token string) map[string]any {
		return map[string]any{"key": key, "htm": htm, "htu": u, "token": token}
	}
	jose := func(key, u, token string, extra map[string]any) map[string]any {
		p := map[string]any{"key": key, "htm": "GET", "htu": u, "token": token, "via": "jose"}
		for k, v := range extra {
			p[k] = v
		}
		return p
	}
	dir := t.TempDir()
	now := time.Now().Unix()
	out := runDPoPScript(t, dpopSpec{
		Keys: map[string]map[string]any{
			"es": {"alg": "ES256", "file": filepath.Join(dir, "es.jwk")},
			"ed": {"alg": "Ed25519"},
			"rs": {"alg": "RS256"},
		},
		Tokens: map[string]map[string]any{
			"es":      dpopToken("es", issuer, "dpop-user"),
			"ed":      dpopToken("ed", issuer, "ed-user"),
			"rs":      dpopToken("rs", issuer, "rs-user"),
			"unbound": dpopToken("", issuer, "plain-user"),
		},
		Proofs: map[string]map[string]any{
			"valid":       proof("es", "GET", htu, "es"),
			"valid ed":    proof("ed", "GET", htu, "ed"),
			"valid rs":    proof("rs", "GET", htu, "rs"),
			"query":       proof("es", "GET", htu+"?page=2#top", "es"),
			"no query":    proof("es", "GET", htu, "es"),
			"post":        proof("es", "POST", htu, "es"),
			"other host":  proof("es", "GET", strings.Replace(htu, "127.0.0.1", "localhost", 1), "es"),
			"other path":  proof("es", "GET", c.URL("/dpop/other"), "es"),
			"other ath":   proof("es", "GET", htu, "some-other-token"),
			"no ath":      proof("es", "GET", htu, ""),
			"ed for es":   proof("ed", "GET", htu, "es"),
			"for bearer":  proof("es", "GET", htu, "es"),
			"for unbound": proof("es", "GET", htu, "unbound"),
			"stale":       jose("es", htu, "es", map[string]any{"iat": now - 300}),
			"future":      jose("es", htu, "es", map[string]any{"iat": now + 300}),
			"jose valid":  jose("es", htu, "es", nil),
			"private jwk": jose("es", htu, "es", map[string]any{"privateJwk": true}),
			"hs256":       jose("es", htu, "es", map[string]any{"hmac": "0123456789abcdef0123456789abcdef"}),
			"typ jwt":     jose("es", htu, "es", map[string]any{"header": map[string]any{"typ": "JWT"}}),
			"alg none":    jose("es", htu, "es", map[string]any{"header": map[string]any{"alg": "none"}}),
			"dup a":       proof("es", "GET", htu, "es"),
			"dup b":       proof("es", "GET", htu, "es"),
		},
	})
	tok, prf := out.Tokens, out.Proofs

	t.Run("valid proofs from npm dpop: ES256, Ed25519, RS256", func(t *testing.T) {
		for _, tc := range []struct{ name, token, user string }{
			{"valid", "es", "dpop-user"}, {"valid ed", "ed", "ed-user"}, {"valid rs", "rs", "rs-user"},
		} {
			resp, body := dpopDo(t, "GET", url, "", dpopHeaders(tok[tc.token], prf[tc.name]))
			expectDPoPUpstream(t, resp, body, tc.user)
		}
		resp, body := dpopDo(t, "GET", url, "", dpopHeaders(tok["es"], prf["jose valid"]))
		expectDPoPUpstream(t, resp, body, "dpop-user")
	})

	t.Run("replayed proof", func(t *testing.T) {
		resp, body := dpopDo(t, "GET", url, "", dpopHeaders(tok["es"], prf["valid"]))
		expectDPoPProblem(t, resp, body, "invalid_dpop_proof", "invalid_dpop_proof")
	})

	t.Run("htu: query ignored, other host or path refused", func(t *testing.T) {
		resp, body := dpopDo(t, "GET", url+"?page=1", "", dpopHeaders(tok["es"], prf["query"]))
		expectDPoPUpstream(t, resp, body, "dpop-user")
		resp, body = dpopDo(t, "GET", url+"?x=y", "", dpopHeaders(tok["es"], prf["no query"]))
		expectDPoPUpstream(t, resp, body, "dpop-user")
		for _, name := range []string{"other host", "other path"} {
			resp, body := dpopDo(t, "GET", url, "", dpopHeaders(tok["es"], prf[name]))
			expectDPoPProblem(t, resp, body, "invalid_dpop_proof", "invalid_dpop_proof")
		}
	})

	t.Run("refused proofs", func(t *testing.T) {
		for _, name := range []string{"post", "stale", "future", "other ath", "no ath", "private jwk", "hs256", "typ jwt", "alg none"} {
			t.Run(name, func(t *testing.T) {
				resp, body := dpopDo(t, "GET", url, "", dpopHeaders(tok["es"], prf[name]))
				expectDPoPProblem(t, resp, body, "invalid_dpop_proof", "invalid_dpop_proof")
			})
		}
	})

	t.Run("bad DPoP headers", func(t *testing.T) {
		for name, h := range map[string]http.Header{
			"missing":    dpopHeaders(tok["es"]),
			"duplicated": dpopHeaders(tok["es"], prf["dup a"], prf["dup b"]),
			"list":       dpopHeaders(tok["es"], prf["dup a"]+", "+prf["dup b"]),
			"garbage":    dpopHeaders(tok["es"], "not a proof at all"),
			"three dots": dpopHeaders(tok["es"], "a.b.c.d"),
			"huge":       dpopHeaders(tok["es"], strings.Repeat("A", 9000)+"."+strings.Repeat("B", 9000)+".C"),
		} {
			t.Run(name, func(t *testing.T) {
				resp, body := dpopDo(t, "GET", url, "", h)
				expectDPoPProblem(t, resp, body, "invalid_dpop_proof", "invalid_dpop_proof")
			})
		}
		// the duplicated proofs were never accepted: each still works once
		resp, body := dpopDo(t, "GET", url, "", dpopHeaders(tok["es"], prf["dup a"]))
		expectDPoPUpstream(t, resp, body, "dpop-user")
	})

	t.Run("key binding", func(t *testing.T) {
		// a proof by another key than cnf.jkt: RFC 9449 §7.1 invalid_token
		resp, body := dpopDo(t, "GET", url, "", dpopHeaders(tok["es"], prf["ed for es"]))
		expectDPoPProblem(t, resp, body, "invalid_token", "invalid_token")
		// a bound token presented as Bearer
		h := http.Header{"Authorization": {"Bearer " + tok["es"]}, "Dpop": {prf["for bearer"]}}
		resp, body = dpopDo(t, "GET", url, "", h)
		expectDPoPProblem(t, resp, body, "invalid_token", "invalid_token")
		// ... on the Bearer route too
		resp, body = dpopDo(t, "GET", c.URL("/oidc/items"), "", http.Header{"Authorization": {"Bearer " + tok["es"]}})
		expectProblem(t, resp, body, http.StatusUnauthorized, "invalid_token")
		// a token without cnf presented as DPoP
		resp, body = dpopDo(t, "GET", url, "", dpopHeaders(tok["unbound"], prf["for unbound"]))
		expectDPoPProblem(t, resp, body, "invalid_token", "invalid_token")
		// an unbound Bearer token on the DPoP-only route
		resp, body = dpopDo(t, "GET", url, "", http.Header{"Authorization": {"Bearer " + tok["unbound"]}})
		expectDPoPProblem(t, resp, body, "invalid_token", "invalid_token")
	})

	t.Run("no credentials", func(t *testing.T) {
		resp, body := dpopDo(t, "GET", url, "", http.Header{})
		expectProblem(t, resp, body, http.StatusUnauthorized, "missing_credentials")
		if got := resp.Header.Get("WWW-Authenticate"); got != `DPoP algs="ES256 RS256 EdDSA"` {
			t.Fatalf("WWW-Authenticate %q", got)
		}
	})

	t.Run("no proof or key in the log", func(t *testing.T) {
		log := c.Log.String()
		for _, secret := range []string{prf["dup b"], tok["es"]} {
			if strings.Contains(log, secret) {
				t.Fatal("a proof or token is in the log")
			}
		}
	})
}

// TestDemoDPoPNonce runs Caddyfile.example with use_dpop_nonce added to
// the /dpop route: a proof without the server's nonce gets 401
// use_dpop_nonce and a DPoP-Nonce header, a proof with it passes.
func TestDemoDPoPNonce(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts the gateway and node")
	}
	src, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), "Caddyfile.example"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(src), "\t\t\tdpop required\n", "\t\t\tdpop required\n\t\t\tuse_dpop_nonce\n", 1)
	if cfg == string(src) {
		t.Fatal("Caddyfile.example has no \"dpop required\" line")
	}
	path := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	c := testutil.StartCaddy(t, testutil.Options{Config: path})
	issuer := "http://127.0.0.1:" + strconv.Itoa(c.UpstreamPort)
	url := c.URL("/dpop/items")
	keyFile := filepath.Join(t.TempDir(), "es.jwk")
	keys := map[string]map[string]any{"es": {"alg": "ES256", "file": keyFile}}
	first := runDPoPScript(t, dpopSpec{
		Keys:   keys,
		Tokens: map[string]map[string]any{"es": dpopToken("es", issuer, "nonce-user")},
		Proofs: map[string]map[string]any{
			"no nonce":  {"key": "es", "htm": "GET", "htu": url, "token": "es"},
			"bad nonce": {"key": "es", "htm": "GET", "htu": url, "token": "es", "nonce": "made-up"},
		},
	})
	token := first.Tokens["es"]
	var nonce string
	for _, name := range []string{"no nonce", "bad nonce"} {
		resp, body := dpopDo(t, "GET", url, "", dpopHeaders(token, first.Proofs[name]))
		expectDPoPProblem(t, resp, body, "invalid_dpop_proof", "use_dpop_nonce")
		nonce = resp.Header.Get("DPoP-Nonce")
		if nonce == "" {
			t.Fatalf("%s: no DPoP-Nonce header", name)
		}
	}
	second := runDPoPScript(t, dpopSpec{
		Keys:   keys,
		Proofs: map[string]map[string]any{"nonce": {"key": "es", "htm": "GET", "htu": url, "token": token, "nonce": nonce}},
	})
	resp, body := dpopDo(t, "GET", url, "", dpopHeaders(token, second.Proofs["nonce"]))
	expectDPoPUpstream(t, resp, body, "nonce-user")
	if resp.Header.Get("DPoP-Nonce") != nonce {
		t.Fatalf("DPoP-Nonce %q on success, want the current %q", resp.Header.Get("DPoP-Nonce"), nonce)
	}
}

// TestDemoDPoPReplayAcrossInstances sends one proof to two instances that
// share a real redis-server (behind one host name, as a load balancer
// would): the second instance refuses it.
func TestDemoDPoPReplayAcrossInstances(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts redis-server, two gateways and node")
	}
	rs := testutil.StartRedis(t)
	env := []string{"APIGW_STORE=" + rs.URL(0)}
	a := testutil.StartCaddy(t, testutil.Options{Env: env})
	issuer := "http://127.0.0.1:" + strconv.Itoa(a.UpstreamPort)
	// b has its own demo upstream but trusts a's issuer and JWKS, so one
	// token works on both
	b := testutil.StartCaddy(t, testutil.Options{Env: append(env,
		"APIGW_JWT_ISSUER="+issuer, "APIGW_JWKS_URL="+issuer+"/.well-known/jwks.json")})
	htu := a.URL("/dpop/items")
	host := strings.TrimPrefix(a.URL(""), "http://")
	out := runDPoPScript(t, dpopSpec{
		Keys:   map[string]map[string]any{"es": {"alg": "ES256"}},
		Tokens: map[string]map[string]any{"es": dpopToken("es", issuer, "lb-user")},
		Proofs: map[string]map[string]any{
			"one": {"key": "es", "htm": "GET", "htu": htu, "token": "es"},
			"two": {"key": "es", "htm": "GET", "htu": htu, "token": "es"},
		},
	})
	h := func(p string) http.Header { return dpopHeaders(out.Tokens["es"], out.Proofs[p]) }
	resp, body := dpopDo(t, "GET", a.URL("/dpop/items"), "", h("one"))
	expectDPoPUpstream(t, resp, body, "lb-user")
	resp, body = dpopDo(t, "GET", b.URL("/dpop/items"), host, h("one"))
	expectDPoPProblem(t, resp, body, "invalid_dpop_proof", "invalid_dpop_proof")
	// and the other way round
	resp, body = dpopDo(t, "GET", b.URL("/dpop/items"), host, h("two"))
	expectDPoPUpstream(t, resp, body, "lb-user")
	resp, body = dpopDo(t, "GET", a.URL("/dpop/items"), "", h("two"))
	expectDPoPProblem(t, resp, body, "invalid_dpop_proof", "invalid_dpop_proof")
}
