package caddymodule_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/apigw/caddy-apigw/internal/testutil"
)

// stripConfig has a custom API-key header on one route and the strip on
// another: the strip learns the server's credential names from the
// other directives (the list the access log redacts), so the custom
// header never reaches the upstream on any stripped route. /raw/* has
// no strip: what reaches the upstream there shows the test can fail.
const stripConfig = `{
	admin {$APIGW_ADMIN}
	auto_https off
}
http://:{$APIGW_HTTP_PORT} {
	bind 127.0.0.1
	apigw_request_id
	handle /key/* {
		apigw_api_key {
			header X-Gateway-Key
			key 0b2c109e25ac7d47cc0c56f999832031c7391890ee1893f299b5df9a9256f1d1 demo-user
		}
		apigw_strip_credentials
		reverse_proxy {$ECHO}
	}
	handle /session/* {
		apigw_session
		reverse_proxy {$ECHO}
	}
	handle /open/* {
		apigw_strip_credentials {
			header X-Upstream-Token
			cookie legacy_sid
		}
		reverse_proxy {$ECHO}
	}
	handle /raw/* {
		reverse_proxy {$ECHO}
	}
}
`

// TestStripCredentialsThroughCaddy sends every kind of credential to a
// stripped route and to an unstripped one, through the real binary.
func TestStripCredentialsThroughCaddy(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(r.Header)
	}))
	t.Cleanup(echo.Close)
	cfg := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(cfg, []byte(stripConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	c := testutil.StartCaddy(t, testutil.Options{Config: cfg, Env: []string{"ECHO=" + echo.Listener.Addr().String()}})
	base := "http://127.0.0.1:" + strconv.Itoa(c.HTTPPort)
	creds := map[string]string{
		"Authorization":       "Bearer eyJhbGciOiJIUzI1NiJ9.e30.x",
		"Proxy-Authorization": "Basic ZGVtbzpkZW1v",
		"X-Api-Key":           "demo-key-1",
		"X-Gateway-Key":       "demo-key-1", // the /key route's custom header
		"X-Signature":         "t=1,v1=ab",
		"Signature":           "sig1=:AAAA:",
		"Signature-Input":     "sig1=(\"@method\");created=1",
		"Dpop":                "eyJ0eXAiOiJkcG9wK2p3dCJ9.e30.x",
		"X-Upstream-Token":    "u", // the /open strip's own header
	}
	seen := func(t *testing.T, path string) http.Header {
		t.Helper()
		req, _ := http.NewRequest("GET", base+path, nil)
		for k, v := range creds {
			req.Header.Set(k, v)
		}
		req.Header.Set("Cookie", "apigw_session=v1.stolen; theme=dark; legacy_sid=9")
		req.Header.Set("Accept", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d: %s", path, resp.StatusCode, body)
		}
		var h http.Header
		if err := json.Unmarshal(body, &h); err != nil {
			t.Fatalf("%s: %s: %v", path, body, err)
		}
		return h
	}
	t.Run("stripped route", func(t *testing.T) {
		h := seen(t, "/open/x")
		for k := range creds {
			if v := h.Get(k); v != "" {
				t.Errorf("upstream saw %s: %q", k, v)
			}
		}
		if got := h.Get("Cookie"); got != "theme=dark" {
			t.Errorf("upstream saw Cookie %q, want theme=dark", got)
		}
		if h.Get("Accept") != "application/json" || h.Get("X-Request-Id") == "" {
			t.Errorf("a header that is not a credential went: %v", h)
		}
	})
	t.Run("unstripped route", func(t *testing.T) {
		h := seen(t, "/raw/x")
		for _, k := range []string{"Authorization", "X-Gateway-Key", "X-Upstream-Token"} {
			if h.Get(k) == "" {
				t.Errorf("upstream did not see %s on a route without the strip: the test proves nothing", k)
			}
		}
	})
}
