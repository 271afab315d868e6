package caddymodule

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/apigw/caddy-apigw/redact"
)

// TestLogRedactionHooksCaddy fails when a Caddy upgrade renames the
// server loggers that RedactCredentialHeaders wraps.
func TestLogRedactionHooksCaddy(t *testing.T) {
	if _, ok := serverRequestLoggers(new(caddyhttp.Server)); !ok {
		t.Fatal("caddyhttp.Server has no accessLogger/errorLogger *zap.Logger fields: access log redaction is off")
	}
}

func TestRedactCore(t *testing.T) {
	for _, showCreds := range []bool{false, true} {
		var buf bytes.Buffer
		enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
		base := zap.New(zapcore.NewCore(enc, zapcore.AddSync(&buf), zapcore.DebugLevel))
		red := redact.NewPolicy()
		red.Add("apigw_session", []string{"X-My-Key"})
		logger := base.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core { return &redactCore{Core: c, r: red} }))

		req := httptest.NewRequest("GET", "/x", nil)
		for k, v := range map[string]string{
			"X-My-Key": "k1-secret", "X-Api-Key": "k2-secret", "Authorization": "Bearer k3-secret",
			"Dpop": "k4-secret", "Signature": "k5-secret", "Signature-Input": "k6-secret",
			"X-Signature": "k7-secret", "Proxy-Authorization": "Basic k8-secret",
			"Cookie": "a=1; apigw_session=k9-secret; b=2", "X-Plain": "visible",
		} {
			req.Header.Set(k, v)
		}
		resp := http.Header{"Set-Cookie": {"apigw_session=k10-secret; Path=/; HttpOnly", "theme=dark"}}
		l := logger.WithLazy(zap.Object("request", caddyhttp.LoggableHTTPRequest{Request: req, ShouldLogCredentials: showCreds}))
		l.Info("handled request", zap.Object("resp_headers", caddyhttp.LoggableHTTPHeader{Header: resp, ShouldLogCredentials: showCreds}))
		out := buf.String()
		for i := 1; i <= 10; i++ {
			if s := "k" + string(rune('0'+i%10)) + "-secret"; i < 10 && strings.Contains(out, s) {
				t.Errorf("log_credentials=%v: %s logged: %s", showCreds, s, out)
			}
		}
		if strings.Contains(out, "k10-secret") || !strings.Contains(out, "visible") {
			t.Errorf("log_credentials=%v: %s", showCreds, out)
		}
		if showCreds && (!strings.Contains(out, "a=1; apigw_session=REDACTED; b=2") || !strings.Contains(out, "theme=dark") ||
			!strings.Contains(out, "apigw_session=REDACTED; Path=/; HttpOnly")) {
			t.Errorf("log_credentials: other cookies should show: %s", out)
		}
	}
}

// TestServerCredentialsPerServer: one list per server, the same on every
// call, another for another server, and gone once the server is.
func TestServerCredentialsPerServer(t *testing.T) {
	logger := zap.NewNop()
	a, b := new(caddyhttp.Server), new(caddyhttp.Server)
	pa := serverCredentials(a, logger)
	if serverCredentials(a, logger) != pa {
		t.Fatal("a second call gave another list")
	}
	if serverCredentials(b, logger) == pa {
		t.Fatal("two servers share a list")
	}
	pa.Add("only_a", []string{"X-Only-A"})
	if h, c := serverCredentials(b, logger).Names(); slices.Contains(h, "X-Only-A") || slices.Contains(c, "only_a") {
		t.Fatal("a name of one server reached the other")
	}
	count := func() int {
		policiesMu.Lock()
		defer policiesMu.Unlock()
		return len(policies)
	}
	before := count()
	runtime.KeepAlive(a)
	runtime.KeepAlive(b)
	a, b = nil, nil
	for i := 0; i < 100 && count() > before-2; i++ {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if n := count(); n > before-2 {
		t.Fatalf("%d lists left after the servers went, want %d", n, before-2)
	}
}
