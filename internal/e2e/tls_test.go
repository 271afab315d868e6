package e2e

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apigw/caddy-apigw/internal/testutil"
)

const (
	tlsDomain   = "apigw.test"
	tlsUser     = "alice"
	tlsPassword = "demo-password"
	// tlsBcrypt is Caddyfile.example's bcrypt hash of "demo-password".
	tlsBcrypt    = "$2a$12$lJuEbhtsGwya1iIPjDSjx.5OkQlrG7HsGlfjr/ewXU91VKBHRqqWq"
	tlsAPIKey    = "tls-test-key-0123456789abcdef"
	tlsKeyUser   = "api-client"
	tlsJWTSecret = "tls-test-jwt-secret-0123456789abcdef0123"
	tlsIssuer    = "https://idp.apigw.test"
	tlsAudience  = "apigw.test"
	// tlsKeyRate is the /key zone's rate for the test (APIGW_KEY_RATE).
	tlsKeyRate = 4
)

// echoUpstream answers every request with JSON describing what it received:
// method, URI, every header (first value, lower-case names) and the body.
func echoUpstream(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		headers := map[string]string{}
		for k, v := range r.Header {
			headers[strings.ToLower(k)] = v[0]
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"upstream": "echo", "method": r.Method, "uri": r.RequestURI,
			"headers": headers, "body": string(body),
		})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// jwksServer serves examples/demo-keys/jwks.json over HTTPS (as a real
// identity provider would) and returns its URL and the PEM of its
// certificate, which the gateway process trusts through SSL_CERT_FILE.
func jwksServer(t *testing.T) (string, []byte) {
	t.Helper()
	jwks, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), "examples", "demo-keys", "jwks.json"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(jwks)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/.well-known/jwks.json",
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
}

// tlsInstance is one gateway process serving examples/Caddyfile.tls.
type tlsInstance struct {
	*testutil.Caddy
	HTTPSPort int
	client    *http.Client
}

// httpsURL returns https://apigw.test:<https port><path>.
func (g *tlsInstance) httpsURL(path string) string {
	return "https://" + tlsDomain + ":" + strconv.Itoa(g.HTTPSPort) + path
}

// httpURL returns http://apigw.test:<http port><path>.
func (g *tlsInstance) httpURL(path string) string {
	return "http://" + tlsDomain + ":" + strconv.Itoa(g.HTTPPort) + path
}

// do sends a request and returns the response with its body read.
func (g *tlsInstance) do(t *testing.T, method, url, body string, header http.Header) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := g.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return resp, b
}

// startTLSGateway starts the gateway on examples/Caddyfile.tls with Pebble
// as its ACME CA, the given storage directory and extra environment, and a
// client that reaches apigw.test on 127.0.0.1, verifies it with Pebble's
// issuing root and does not follow redirects.
func startTLSGateway(t *testing.T, p *pebble, config, storage string, env ...string) *tlsInstance {
	t.Helper()
	g := &tlsInstance{HTTPSPort: testutil.FreePort(t)}
	env = append([]string{
		"APIGW_HTTPS_PORT=" + strconv.Itoa(g.HTTPSPort),
		"APIGW_TEST_ACME_CA=" + p.DirURL,
		"APIGW_TEST_ACME_ROOT=" + p.ServerRootFile,
		"APIGW_TEST_STORAGE=" + storage,
		"APIGW_DOMAIN=" + tlsDomain,
	}, env...)
	g.Caddy = testutil.StartCaddy(t, testutil.Options{Config: config, Env: env})
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	g.client = &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			// every name resolves to loopback; the URL keeps Host and SNI
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				_, port, err := net.SplitHostPort(addr)
				if err != nil {
					return nil, err
				}
				return dialer.DialContext(ctx, network, "127.0.0.1:"+port)
			},
			TLSClientConfig:   &tls.Config{RootCAs: p.IssuerRoots},
			ForceAttemptHTTP2: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return g
}

// upstreamSaw decodes the echo upstream's JSON.
func upstreamSaw(t *testing.T, body []byte) (headers map[string]string, echoed string) {
	t.Helper()
	var v struct {
		Headers map[string]string `json:"headers"`
		Body    string            `json:"body"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("upstream answer is not the echo JSON: %v: %s", err, body)
	}
	return v.Headers, v.Body
}

// wantProblem checks an RFC 9457 answer with the given status and code.
func wantProblem(t *testing.T, resp *http.Response, body []byte, status int, code string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d: %s", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Fatalf("Content-Type %q, want application/problem+json: %s", ct, body)
	}
	var p struct {
		Status int    `json:"status"`
		Code   string `json:"code"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("problem JSON: %v: %s", err, body)
	}
	if p.Status != status || p.Code != code {
		t.Fatalf("problem status %d code %q, want %d %q: %s", p.Status, p.Code, status, code, body)
	}
}

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

// TestAutomaticHTTPS runs examples/Caddyfile.tls for the made-up domain
// apigw.test against a local Pebble CA: Caddy obtains a certificate through
// ACME, redirects HTTP to HTTPS, and the gateway chain works over HTTPS
// (HSTS, Secure session cookie, API key, limit, JWT HS256 and ES256 over a
// JWKS fetched over HTTPS, validation). A second instance sharing the same
// Caddy storage and Redis store serves the same certificate without a new
// order and accepts the first instance's session.
func TestAutomaticHTTPS(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: runs Pebble and the gateway binary")
	}
	p := startPebble(t)
	up := echoUpstream(t)
	jwksURL, jwksCert := jwksServer(t)
	certFile := filepath.Join(t.TempDir(), "jwks-ca.pem")
	if err := os.WriteFile(certFile, jwksCert, 0o600); err != nil {
		t.Fatal(err)
	}
	redis := testutil.StartRedis(t)
	config, missing := tlsCaddyfile(t)
	if len(missing) > 0 {
		t.Logf("not registered in this build, left out of the Caddyfile: %s", strings.Join(missing, ", "))
	}
	keyHash := sha256.Sum256([]byte(tlsAPIKey))
	env := []string{
		"APIGW_UPSTREAM=" + strings.TrimPrefix(up.URL, "http://"),
		"APIGW_STORE=" + redis.URL(0),
		"APIGW_LOGIN_USER=" + tlsUser,
		"APIGW_LOGIN_BCRYPT=" + tlsBcrypt,
		"APIGW_KEY_SHA256=" + hex.EncodeToString(keyHash[:]),
		"APIGW_KEY_USER=" + tlsKeyUser,
		"APIGW_KEY_RATE=" + strconv.Itoa(tlsKeyRate) + "/1h",
		"JWT_SECRET=" + tlsJWTSecret,
		"APIGW_JWKS_URL=" + jwksURL,
		"APIGW_JWT_ISSUER=" + tlsIssuer,
		"APIGW_JWT_AUDIENCE=" + tlsAudience,
		"APIGW_CORS_ORIGIN=https://app.apigw.test",
		// the mutual-TLS site needs its client CA (mtls_test.go tests it)
		"APIGW_MTLS_DOMAIN=" + mtlsDomain,
		"APIGW_CLIENT_CA_FILE=" + newTestCA(t, "apigw test client CA").pemFile(t),
		// the JWKS host's certificate is the only root the gateway trusts
		// for outgoing HTTPS besides acme_ca_root
		"SSL_CERT_FILE=" + certFile,
	}
	storage := t.TempDir()
	a := startTLSGateway(t, p, config, storage, env...)
	leaf := waitForCertificate(t, "127.0.0.1:"+strconv.Itoa(a.HTTPSPort), tlsDomain, p.IssuerRoots)

	t.Run("certificate issued by Pebble and kept in Caddy's storage", func(t *testing.T) {
		if err := leaf.VerifyHostname(tlsDomain); err != nil {
			t.Fatalf("certificate does not cover %s: %v (SANs %v)", tlsDomain, err, leaf.DNSNames)
		}
		if !strings.Contains(leaf.Issuer.CommonName, "Pebble Intermediate") {
			t.Fatalf("issuer %q, want Pebble's intermediate", leaf.Issuer.CommonName)
		}
		var stored []string
		_ = filepath.WalkDir(storage, func(path string, d fs.DirEntry, err error) error {
			if err == nil && d.Name() == tlsDomain+".crt" {
				stored = append(stored, path)
			}
			return nil
		})
		if len(stored) != 1 {
			t.Fatalf("want one %s.crt in Caddy's storage %s, found %v", tlsDomain, storage, stored)
		}
		raw, err := os.ReadFile(stored[0])
		if err != nil {
			t.Fatal(err)
		}
		block, _ := pem.Decode(raw)
		if block == nil {
			t.Fatalf("%s is not PEM", stored[0])
		}
		if cert, err := x509.ParseCertificate(block.Bytes); err != nil || cert.SerialNumber.Cmp(leaf.SerialNumber) != 0 {
			t.Fatalf("stored certificate (err %v) is not the served one", err)
		}
	})

	t.Run("HTTP redirects to HTTPS", func(t *testing.T) {
		resp, body := a.do(t, "GET", a.httpURL("/open/x?y=1"), "", nil)
		if resp.StatusCode != http.StatusPermanentRedirect {
			t.Fatalf("status %d, want 308: %s", resp.StatusCode, body)
		}
		// Caddy leaves the port out when it is the configured https_port:
		// in production that is 443, here the test's free port.
		if loc, want := resp.Header.Get("Location"), "https://"+tlsDomain+"/open/x?y=1"; loc != want {
			t.Fatalf("Location %q, want %q", loc, want)
		}
		if v := resp.Header.Get("Strict-Transport-Security"); v != "" {
			t.Fatalf("HSTS on plain HTTP: %q", v)
		}
	})

	t.Run("open route over HTTPS", func(t *testing.T) {
		resp, body := a.do(t, "GET", a.httpsURL("/open/hello"), "", nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		if resp.TLS == nil || resp.TLS.VerifiedChains == nil {
			t.Fatal("response did not come over verified TLS")
		}
		upstreamSaw(t, body)
	})

	t.Run("HSTS on HTTPS", func(t *testing.T) {
		requireDirectives(t, "apigw_security_headers")
		resp, body := a.do(t, "GET", a.httpsURL("/open/hello"), "", nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		hsts := resp.Header.Get("Strict-Transport-Security")
		if !strings.Contains(hsts, "max-age=") || strings.Contains(hsts, "max-age=0") {
			t.Fatalf("Strict-Transport-Security %q, want a max-age > 0", hsts)
		}
	})

	t.Run("unknown route is problem JSON", func(t *testing.T) {
		resp, body := a.do(t, "GET", a.httpsURL("/nowhere"), "", nil)
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
			t.Fatalf("Content-Type %q: %s", ct, body)
		}
	})

	var sessionCookie *http.Cookie
	t.Run("login cookie is Secure and the session works", func(t *testing.T) {
		requireDirectives(t, "apigw_login", "apigw_session", "apigw_rate_limit")
		resp, body := a.do(t, "POST", a.httpsURL("/login"), `{"username":"`+tlsUser+`","password":"wrong"}`,
			hdr("Content-Type", "application/json"))
		wantProblem(t, resp, body, http.StatusUnauthorized, "invalid_credentials")

		resp, body = a.do(t, "POST", a.httpsURL("/login"), `{"username":"`+tlsUser+`","password":"`+tlsPassword+`"}`,
			hdr("Content-Type", "application/json"))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("login: status %d: %s", resp.StatusCode, body)
		}
		for _, c := range resp.Cookies() {
			if c.Value != "" {
				sessionCookie = c
			}
		}
		if sessionCookie == nil {
			t.Fatalf("login set no cookie: %v", resp.Header.Values("Set-Cookie"))
		}
		if !sessionCookie.Secure || !sessionCookie.HttpOnly {
			t.Fatalf("session cookie over HTTPS must be Secure and HttpOnly: %q", resp.Header.Get("Set-Cookie"))
		}

		resp, body = a.do(t, "POST", a.httpsURL("/login"), `{"username":"`+tlsUser+`","password":"`+tlsPassword+`"}`,
			hdr("Content-Type", "application/json", "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"))
		wantProblem(t, resp, body, http.StatusForbidden, "csrf_rejected")
		resp, body = a.do(t, "POST", a.httpsURL("/login"), `{"username":"`+tlsUser+`","password":"`+tlsPassword+`"}`,
			hdr("Content-Type", "application/json", "Origin", "https://app.apigw.test", "Sec-Fetch-Site", "same-site"))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("login from the trusted front end: status %d: %s", resp.StatusCode, body)
		}

		resp, body = a.do(t, "GET", a.httpsURL("/session/me"), "", hdr("Cookie", sessionCookie.Name+"="+sessionCookie.Value))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("session route: status %d: %s", resp.StatusCode, body)
		}
		seen, _ := upstreamSaw(t, body)
		if seen["x-auth-user"] != tlsUser {
			t.Fatalf("upstream saw X-Auth-User %q, want %q", seen["x-auth-user"], tlsUser)
		}
		if strings.Contains(seen["cookie"], sessionCookie.Value) {
			t.Fatal("the session cookie reached the upstream")
		}
		resp, body = a.do(t, "GET", a.httpsURL("/session/me"), "", nil)
		wantProblem(t, resp, body, http.StatusUnauthorized, "missing_credentials")
	})

	keyOK := 0
	t.Run("API key", func(t *testing.T) {
		requireDirectives(t, "apigw_api_key", "apigw_rate_limit")
		resp, body := a.do(t, "GET", a.httpsURL("/key/items"), "", nil)
		wantProblem(t, resp, body, http.StatusUnauthorized, "missing_credentials")
		resp, body = a.do(t, "GET", a.httpsURL("/key/items"), "", hdr("X-API-Key", "not-the-key"))
		wantProblem(t, resp, body, http.StatusUnauthorized, "invalid_api_key")
		resp, body = a.do(t, "GET", a.httpsURL("/key/items"), "", hdr("X-API-Key", tlsAPIKey))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		keyOK++
		seen, _ := upstreamSaw(t, body)
		if seen["x-auth-user"] != tlsKeyUser {
			t.Fatalf("upstream saw X-Auth-User %q, want %q", seen["x-auth-user"], tlsKeyUser)
		}
		if _, leaked := seen["x-api-key"]; leaked {
			t.Fatal("the API key reached the upstream")
		}
	})

	t.Run("rate limit per key", func(t *testing.T) {
		requireDirectives(t, "apigw_api_key", "apigw_rate_limit")
		for keyOK < tlsKeyRate {
			resp, body := a.do(t, "GET", a.httpsURL("/key/items"), "", hdr("X-API-Key", tlsAPIKey))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("request %d of %d allowed: status %d: %s", keyOK+1, tlsKeyRate, resp.StatusCode, body)
			}
			keyOK++
		}
		resp, body := a.do(t, "GET", a.httpsURL("/key/items"), "", hdr("X-API-Key", tlsAPIKey))
		wantProblem(t, resp, body, http.StatusTooManyRequests, "rate_limited")
		if resp.Header.Get("Retry-After") == "" {
			t.Fatal("429 without Retry-After")
		}
	})

	t.Run("JWT HS256", func(t *testing.T) {
		requireDirectives(t, "apigw_jwt")
		resp, body := a.do(t, "GET", a.httpsURL("/jwt/items"), "", nil)
		wantProblem(t, resp, body, http.StatusUnauthorized, "missing_credentials")
		if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Fatalf("WWW-Authenticate %q, want Bearer", resp.Header.Get("WWW-Authenticate"))
		}
		now := time.Now().Unix()
		expired := testutil.Node(t, "mint.mjs", "HS256", tlsJWTSecret,
			`{"sub":"bob","iat":`+strconv.FormatInt(now-7200, 10)+`,"exp":`+strconv.FormatInt(now-3600, 10)+`}`)
		resp, body = a.do(t, "GET", a.httpsURL("/jwt/items"), "", hdr("Authorization", "Bearer "+expired))
		wantProblem(t, resp, body, http.StatusUnauthorized, "token_expired")
		token := testutil.Node(t, "mint.mjs", "HS256", tlsJWTSecret,
			`{"sub":"bob","exp":`+strconv.FormatInt(now+600, 10)+`}`)
		resp, body = a.do(t, "GET", a.httpsURL("/jwt/items"), "", hdr("Authorization", "Bearer "+token))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		seen, _ := upstreamSaw(t, body)
		if seen["x-auth-user"] != "bob" {
			t.Fatalf("upstream saw X-Auth-User %q, want bob", seen["x-auth-user"])
		}
		if _, leaked := seen["authorization"]; leaked {
			t.Fatal("the bearer token reached the upstream")
		}
	})

	t.Run("JWT ES256 with JWKS over HTTPS", func(t *testing.T) {
		requireDirectives(t, "apigw_jwt")
		key := filepath.Join(testutil.RepoRoot(), "examples", "demo-keys", "oidc-es256.key.pem")
		exp := strconv.FormatInt(time.Now().Unix()+600, 10)
		token := testutil.Node(t, "mint.mjs", "ES256", key,
			`{"sub":"carol","iss":"`+tlsIssuer+`","aud":"`+tlsAudience+`","exp":`+exp+`}`, `{"kid":"demo-es256"}`)
		resp, body := a.do(t, "GET", a.httpsURL("/oidc/items"), "", hdr("Authorization", "Bearer "+token))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		if seen, _ := upstreamSaw(t, body); seen["x-auth-user"] != "carol" {
			t.Fatalf("upstream saw X-Auth-User %q, want carol", seen["x-auth-user"])
		}
		wrongAud := testutil.Node(t, "mint.mjs", "ES256", key,
			`{"sub":"carol","iss":"`+tlsIssuer+`","aud":"someone-else","exp":`+exp+`}`, `{"kid":"demo-es256"}`)
		resp, body = a.do(t, "GET", a.httpsURL("/oidc/items"), "", hdr("Authorization", "Bearer "+wrongAud))
		wantProblem(t, resp, body, http.StatusUnauthorized, "invalid_token")
	})

	t.Run("validation", func(t *testing.T) {
		requireDirectives(t, "apigw_validate")
		ctJSON := hdr("Content-Type", "application/json")
		resp, body := a.do(t, "POST", a.httpsURL("/users"), `{"email":"ann@example.com","name":"Ann","age":30}`, ctJSON)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("valid body: status %d: %s", resp.StatusCode, body)
		}
		if _, echoed := upstreamSaw(t, body); !strings.Contains(echoed, "ann@example.com") {
			t.Fatalf("upstream did not get the body: %s", body)
		}
		resp, body = a.do(t, "POST", a.httpsURL("/users"), `{"email":"not-an-email","name":"","$where":"1"}`, ctJSON)
		wantProblem(t, resp, body, http.StatusBadRequest, "validation_failed")
		resp, body = a.do(t, "POST", a.httpsURL("/users"), `email=a@b.c`, hdr("Content-Type", "application/x-www-form-urlencoded"))
		wantProblem(t, resp, body, http.StatusUnsupportedMediaType, "unsupported_media_type")
	})

	// a second instance on the same Caddy storage and Redis store
	b := startTLSGateway(t, p, config, storage, env...)
	t.Run("second instance serves the shared certificate", func(t *testing.T) {
		leafB := waitForCertificate(t, "127.0.0.1:"+strconv.Itoa(b.HTTPSPort), tlsDomain, p.IssuerRoots)
		if leafB.SerialNumber.Cmp(leaf.SerialNumber) != 0 {
			t.Fatalf("second instance serves certificate %x, want the shared %x (a new order was placed)",
				leafB.SerialNumber, leaf.SerialNumber)
		}
	})

	t.Run("second instance accepts the first one's session", func(t *testing.T) {
		if sessionCookie == nil {
			requireDirectives(t, "apigw_login", "apigw_session")
			t.Skip("no session from the first instance (its subtest failed or was skipped)")
		}
		resp, body := b.do(t, "GET", b.httpsURL("/session/me"), "", hdr("Cookie", sessionCookie.Name+"="+sessionCookie.Value))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("first instance's session on the second: status %d: %s", resp.StatusCode, body)
		}
		if seen, _ := upstreamSaw(t, body); seen["x-auth-user"] != tlsUser {
			t.Fatalf("upstream saw X-Auth-User %q, want %q", seen["x-auth-user"], tlsUser)
		}
	})
}
