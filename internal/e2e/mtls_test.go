package e2e

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apigw/caddy-apigw/internal/testutil"
)

const (
	mtlsDomain      = "mtls." + tlsDomain
	mtlsTrustDomain = "apigw.test"
)

// testCA is a certificate authority made by the test with crypto/x509.
type testCA struct {
	cert *x509.Certificate
	key  crypto.Signer
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key}
}

// pemFile writes the CA certificate to a PEM file and returns its path.
func (ca *testCA) pemFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "client-ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// client issues a client certificate (ExtKeyUsage clientAuth) with the
// common name cn and the URI SANs uris.
func (ca *testCA) client(t *testing.T, cn string, uris ...string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	for _, u := range uris {
		p, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, p)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// x5t is the RFC 8705 cnf x5t#S256 of a certificate.
func x5t(c tls.Certificate) string {
	sum := sha256.Sum256(c.Certificate[0])
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// mtlsClient reaches every name on 127.0.0.1, verifies the server with
// roots and presents cert (none when cert is nil).
func mtlsClient(roots *x509.CertPool, cert *tls.Certificate) *http.Client {
	cfg := &tls.Config{RootCAs: roots}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{
		Timeout: 20 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				_, port, err := net.SplitHostPort(addr)
				if err != nil {
					return nil, err
				}
				return dialer.DialContext(ctx, network, "127.0.0.1:"+port)
			},
			TLSClientConfig:   cfg,
			ForceAttemptHTTP2: true,
		},
	}
}

func mtlsGet(c *http.Client, u string, header http.Header) (*http.Response, []byte, error) {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

// TestMutualTLS runs examples/Caddyfile.tls and its mutual-TLS site with
// a client CA and client certificates made here: a verified certificate
// becomes the identity the upstream sees (SPIFFE ID or CN, scopes by
// pattern); no certificate, or one from another CA, gets no connection;
// a token bound to a certificate (RFC 8705) passes only with that one.
func TestMutualTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: runs Pebble and the gateway binary")
	}
	requireDirectives(t, "apigw_mtls", "apigw_jwt")
	p := startPebble(t)
	up := echoUpstream(t)
	jwksURL, jwksCert := jwksServer(t)
	certFile := filepath.Join(t.TempDir(), "jwks-ca.pem")
	if err := os.WriteFile(certFile, jwksCert, 0o600); err != nil {
		t.Fatal(err)
	}
	ca := newTestCA(t, "apigw test client CA")
	other := newTestCA(t, "some other CA")
	billing := ca.client(t, "billing-svc", "spiffe://"+mtlsTrustDomain+"/billing/api")
	reporting := ca.client(t, "reporting-svc")
	foreign := other.client(t, "billing-svc", "spiffe://"+mtlsTrustDomain+"/billing/api")

	config, missing := tlsCaddyfile(t)
	if len(missing) > 0 {
		t.Logf("not registered in this build, left out of the Caddyfile: %s", strings.Join(missing, ", "))
	}
	keyHash := sha256.Sum256([]byte(tlsAPIKey))
	g := startTLSGateway(t, p, config, t.TempDir(),
		"APIGW_UPSTREAM="+strings.TrimPrefix(up.URL, "http://"),
		"APIGW_LOGIN_USER="+tlsUser,
		"APIGW_LOGIN_BCRYPT="+tlsBcrypt,
		"APIGW_KEY_SHA256="+hex.EncodeToString(keyHash[:]),
		"JWT_SECRET="+tlsJWTSecret,
		"APIGW_JWKS_URL="+jwksURL,
		"APIGW_JWT_ISSUER="+tlsIssuer,
		"APIGW_JWT_AUDIENCE="+tlsAudience,
		"APIGW_MTLS_DOMAIN="+mtlsDomain,
		"APIGW_CLIENT_CA_FILE="+ca.pemFile(t),
		"APIGW_SPIFFE_TRUST_DOMAIN="+mtlsTrustDomain,
		"SSL_CERT_FILE="+certFile,
	)
	base := "https://" + mtlsDomain + ":" + strconv.Itoa(g.HTTPSPort)
	billingClient := mtlsClient(p.IssuerRoots, &billing)

	// Caddy obtains the site's certificate from Pebble after it starts
	deadline := time.Now().Add(90 * time.Second)
	for {
		_, _, err := mtlsGet(billingClient, base+"/mtls/ping", nil)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the mTLS site never answered: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}

	t.Run("verified certificate: SPIFFE ID and granted scopes upstream", func(t *testing.T) {
		resp, body, err := mtlsGet(billingClient, base+"/mtls/invoices", hdr("X-Auth-User", "forged"))
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		seen, _ := upstreamSaw(t, body)
		if seen["x-auth-user"] != "spiffe://"+mtlsTrustDomain+"/billing/api" || seen["x-auth-method"] != "mtls" ||
			seen["x-auth-scope"] != "billing:read billing:write" {
			t.Fatalf("upstream saw %v", seen)
		}
	})

	t.Run("verified certificate without SPIFFE ID: CN, no scopes", func(t *testing.T) {
		resp, body, err := mtlsGet(mtlsClient(p.IssuerRoots, &reporting), base+"/mtls/reports", nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		seen, _ := upstreamSaw(t, body)
		if seen["x-auth-user"] != "reporting-svc" || seen["x-auth-scope"] != "" {
			t.Fatalf("upstream saw %v", seen)
		}
	})

	t.Run("no certificate or one from another CA: no connection", func(t *testing.T) {
		for name, c := range map[string]*http.Client{
			"none":       mtlsClient(p.IssuerRoots, nil),
			"another CA": mtlsClient(p.IssuerRoots, &foreign),
		} {
			resp, body, err := mtlsGet(c, base+"/mtls/invoices", nil)
			if err == nil {
				t.Fatalf("%s: status %d: %s", name, resp.StatusCode, body)
			}
		}
	})

	t.Run("certificate-bound token (RFC 8705)", func(t *testing.T) {
		key := filepath.Join(testutil.RepoRoot(), "examples", "demo-keys", "oidc-es256.key.pem")
		exp := strconv.FormatInt(time.Now().Unix()+600, 10)
		token := testutil.Node(t, "mint.mjs", "ES256", key,
			`{"sub":"bound-user","iss":"`+tlsIssuer+`","aud":"`+tlsAudience+`","exp":`+exp+`,"cnf":{"x5t#S256":"`+x5t(billing)+`"}}`,
			`{"kid":"demo-es256"}`)
		bearer := hdr("Authorization", "Bearer "+token)
		resp, body, err := mtlsGet(billingClient, base+"/bound/x", bearer)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("with its certificate: status %d: %s", resp.StatusCode, body)
		}
		if seen, _ := upstreamSaw(t, body); seen["x-auth-user"] != "bound-user" {
			t.Fatalf("upstream saw %v", seen)
		}
		resp, body, err = mtlsGet(mtlsClient(p.IssuerRoots, &reporting), base+"/bound/x", bearer)
		if err != nil {
			t.Fatal(err)
		}
		wantProblem(t, resp, body, http.StatusUnauthorized, "invalid_token")
		// on the main site, without any client certificate (once Caddy
		// has that site's certificate too)
		waitForCertificate(t, "127.0.0.1:"+strconv.Itoa(g.HTTPSPort), tlsDomain, p.IssuerRoots)
		resp, body = g.do(t, "GET", g.httpsURL("/oidc/x"), "", bearer)
		wantProblem(t, resp, body, http.StatusUnauthorized, "invalid_token")
	})
}
