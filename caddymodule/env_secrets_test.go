package caddymodule

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apigw/caddy-apigw/internal/testutil"
)

// TestEnvSecretsStayOutOfConfig: secret options take runtime {env.X}
// placeholders: `caddy adapt` and GET /config/ keep the placeholder, the
// running gateway uses the value (a 64-byte HS512 secret, a signing
// secret).
func TestEnvSecretsStayOutOfConfig(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts the gateway")
	}
	jwtSecret := strings.Repeat("j", 40) + "-env-jwt-secret-0123456789ab"
	sigSecret := "env-signing-secret-0123456789abcdef-xyz"
	env := []string{"TEST_JWT_SECRET=" + jwtSecret, "TEST_SIGNING_SECRET=" + sigSecret}
	cmd := exec.Command(testutil.CaddyBinary(t), "adapt", "--config", "testdata/env_secrets.caddyfile", "--adapter", "caddyfile")
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("adapt: %v\n%s", err, out)
	}
	if bytes.Contains(out, []byte(jwtSecret)) || bytes.Contains(out, []byte(sigSecret)) || !bytes.Contains(out, []byte("{env.TEST_JWT_SECRET}")) {
		t.Fatalf("adapt output holds a secret or lost the placeholder: %s", out)
	}
	c := testutil.StartCaddy(t, testutil.Options{Config: "testdata/env_secrets.caddyfile", Env: env})
	resp, err := http.Get(c.AdminURL("/config/"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if bytes.Contains(cfg, []byte(jwtSecret)) || bytes.Contains(cfg, []byte(sigSecret)) {
		t.Fatal("GET /config/ shows a secret")
	}
	tok := mintJose(t, "HS512", jwtSecret, map[string]any{"sub": "a", "exp": time.Now().Add(time.Hour).Unix()}, nil)
	if st, _, b := ecDo(t, "GET", c.URL("/jwt/x"), "", "Authorization", "Bearer "+tok); st != 200 {
		t.Fatalf("HS512 token with the env secret: %d %s", st, b)
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	sum := sha256.Sum256(nil)
	mac := hmac.New(sha256.New, []byte(sigSecret))
	mac.Write([]byte(ts + ".GET./signed/x." + hex.EncodeToString(sum[:])))
	sig := "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
	if st, _, b := ecDo(t, "GET", c.URL("/signed/x"), "", "X-Signature", sig); st != 200 {
		t.Fatalf("signature with the env secret: %d %s", st, b)
	}
}
