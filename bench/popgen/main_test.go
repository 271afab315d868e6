package main

import (
	"bufio"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/apigw/caddy-apigw/authn"
	"github.com/apigw/caddy-apigw/httpsig"
	"github.com/apigw/caddy-apigw/store"
)

const testURL = "http://127.0.0.1:18002/dpop/items"

// generate runs popgen for kind and returns every line of every part.
func generate(t *testing.T, kind, target string, n, parts int) [][]string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "pop")
	c := config{kind: kind, target: target, n: n, parts: parts, out: out, window: 5 * time.Second,
		tokenKey: "../../examples/demo-keys/oidc-es256.key.pem", tokenKid: "demo-es256",
		iss: "http://127.0.0.1:18000", aud: "caddy-apigw-demo", sigLabel: "sig1"}
	switch kind {
	case "sig-ed25519":
		c.sigKey = "../../internal/testutil/js/demo-ed25519.test-private.pem"
	case "sig-es256":
		c.sigKey = "../../examples/demo-keys/oidc-es256.key.pem"
	}
	if err := run(c); err != nil {
		t.Fatal(err)
	}
	var lines [][]string
	for p := 1; p <= parts; p++ {
		f, err := os.Open(out + "." + strconv.Itoa(p))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			lines = append(lines, strings.Split(sc.Text(), "\t"))
		}
		_ = f.Close()
	}
	if len(lines) != n {
		t.Fatalf("%d lines in %d parts, want %d", len(lines), parts, n)
	}
	return lines
}

// header returns the value of name among a line's "Name: value" fields.
func header(t *testing.T, line []string, name string) string {
	t.Helper()
	for _, f := range line[1:] {
		if v, ok := strings.CutPrefix(f, name+": "); ok {
			return v
		}
	}
	t.Fatalf("no %s in %q", name, line)
	return ""
}

// TestDPoPLines checks every generated proof with the gateway's own
// verifier and one shared replay store: each is accepted, so no jti
// repeats, and the token is bound to the proof key.
func TestDPoPLines(t *testing.T) {
	for _, kind := range []string{"dpop-es256", "dpop-eddsa"} {
		t.Run(kind, func(t *testing.T) {
			st := store.NewMemory(time.Minute)
			defer st.Close()
			v, err := authn.NewDPoPVerifier(authn.DPoPConfig{Store: st})
			if err != nil {
				t.Fatal(err)
			}
			lines := generate(t, kind, testURL, 50, 3)
			check := func(line []string) error {
				if line[0] != "/dpop/items" {
					t.Fatalf("path %q", line[0])
				}
				token, ok := strings.CutPrefix(header(t, line, "Authorization"), "DPoP ")
				if !ok {
					t.Fatalf("Authorization is not DPoP: %q", line)
				}
				claims := jwt.MapClaims{}
				if _, _, err := jwt.NewParser().ParseUnverified(token, claims); err != nil {
					t.Fatal(err)
				}
				jkt := authn.ConfirmationOf(claims).JKT
				if jkt == "" || claims["iss"] != "http://127.0.0.1:18000" || claims["aud"] != "caddy-apigw-demo" {
					t.Fatalf("token claims %v", claims)
				}
				req := authn.DPoPRequest{Method: http.MethodGet, URL: testURL, AccessToken: token, JKT: jkt}
				_, err := v.Check(context.Background(), header(t, line, "DPoP"), req)
				return err
			}
			for _, line := range lines {
				if err := check(line); err != nil {
					t.Fatalf("proof refused: %v", err)
				}
			}
			// the store refuses a second use: all passing means all distinct
			if err := check(lines[0]); err == nil {
				t.Fatal("a replayed proof was accepted")
			}
		})
	}
}

// TestSigLines verifies every generated signature with the demo public
// keys and one replay store that refuses a second use of a nonce.
func TestSigLines(t *testing.T) {
	for _, tc := range []struct{ kind, keyID, alg, pub string }{
		{"sig-ed25519", "demo-ed25519", httpsig.AlgEd25519, "../../examples/demo-keys/demo-ed25519.pub.pem"},
		{"sig-es256", "bench-es256", httpsig.AlgECDSAP256, "../../examples/demo-keys/oidc-es256.pub.pem"},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			pem, err := os.ReadFile(tc.pub)
			if err != nil {
				t.Fatal(err)
			}
			key, err := httpsig.ParsePublicKeyPEM(tc.keyID, tc.alg, pem)
			if err != nil {
				t.Fatal(err)
			}
			st := store.NewMemory(time.Minute)
			defer st.Close()
			v, err := httpsig.NewVerifier(httpsig.Config{Label: "sig1", Keys: httpsig.KeyMap{tc.keyID: key},
				Replay: st, RequireNonce: true})
			if err != nil {
				t.Fatal(err)
			}
			target := "http://127.0.0.1:18002/sig/items"
			lines := generate(t, tc.kind, target, 50, 2)
			verify := func(line []string) error {
				m := &httpsig.Message{Request: httpsig.Request{Method: http.MethodGet, Scheme: "http",
					Authority: "127.0.0.1:18002", RequestURI: line[0], Header: http.Header{
						"Signature-Input": {header(t, line, "Signature-Input")},
						"Signature":       {header(t, line, "Signature")},
					}}}
				_, err := v.Verify(context.Background(), m)
				return err
			}
			for _, line := range lines {
				if err := verify(line); err != nil {
					t.Fatalf("signature refused: %v (%q)", err, line)
				}
			}
			// the store refuses a second use: all passing means all distinct
			if err := verify(lines[0]); err == nil {
				t.Fatal("a replayed signature was accepted")
			}
		})
	}
}

// TestRefusals: popgen refuses a round its proofs would not outlive and
// an incomplete command line.
func TestRefusals(t *testing.T) {
	out := filepath.Join(t.TempDir(), "pop")
	for _, tc := range []struct {
		name string
		c    config
		want string
	}{
		{"dpop round too long", config{kind: "dpop-es256", target: testURL, n: 1, parts: 1, out: out, window: time.Minute, iss: "x"}, "use shorter rounds"},
		{"sig round too long", config{kind: "sig-ed25519", target: testURL, n: 1, parts: 1, out: out, window: 5 * time.Minute}, "use shorter rounds"},
		{"unknown kind", config{kind: "bearer", target: testURL, n: 1, parts: 1, out: out}, "-kind"},
		{"no lines", config{kind: "dpop-es256", target: testURL, parts: 1, out: out}, "required"},
		{"query", config{kind: "sig-ed25519", target: testURL + "?a=1", n: 1, parts: 1, out: out}, "without a query"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := run(tc.c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}
