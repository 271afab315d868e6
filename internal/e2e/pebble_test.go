package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"

	"github.com/apigw/caddy-apigw/internal/testutil"
)

// pebble is a Pebble ACME server (Let's Encrypt's test CA) running inside
// the test process on free loopback ports.
type pebble struct {
	// DirURL is the ACME directory (Caddy's acme_ca).
	DirURL string
	// ServerRootFile is the PEM file of the certificate the ACME endpoint
	// itself serves (Caddy's acme_ca_root).
	ServerRootFile string
	// IssuerRoots holds Pebble's issuing root, fetched from its management
	// endpoint (/roots/0): clients trust it to verify issued certificates.
	IssuerRoots *x509.CertPool
	// IssuerRoot is that root certificate.
	IssuerRoot *x509.Certificate
	// Log is Pebble's log.
	Log *testutil.SyncBuffer
}

// startPebble runs Pebble's CA, validation authority and ACME front end in
// process, exactly as its cmd/pebble wires them, with
// PEBBLE_VA_ALWAYS_VALID=1 (no challenge is really checked, so the test runs
// offline for a made-up domain), PEBBLE_VA_NOSLEEP=1 and no deliberately
// rejected nonces. The ACME endpoint and the management endpoint each get a
// free loopback port and a fresh self-signed certificate.
func startPebble(t *testing.T) *pebble {
	t.Helper()
	t.Setenv("PEBBLE_VA_ALWAYS_VALID", "1")
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0")

	p := &pebble{Log: new(testutil.SyncBuffer)}
	logger := log.New(p.Log, "pebble ", log.LstdFlags)
	mem := db.NewMemoryStore()
	authority := ca.New(logger, mem, "", "ecdsa", 0, 1, map[string]ca.Profile{
		"default": {Description: "test profile"},
	})
	validator := va.New(logger, 0, 0, false, "", mem)
	front := wfe.New(logger, mem, validator, authority, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)

	serverCert, serverPEM := selfSignedLoopback(t)
	p.ServerRootFile = filepath.Join(t.TempDir(), "pebble-acme-server.pem")
	if err := os.WriteFile(p.ServerRootFile, serverPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	serve := func(h http.Handler) string {
		l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{serverCert}})
		if err != nil {
			t.Fatalf("pebble listen: %v", err)
		}
		srv := &http.Server{Handler: h, ErrorLog: logger, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(l) }()
		t.Cleanup(func() { _ = srv.Close() })
		return "https://" + l.Addr().String()
	}
	p.DirURL = serve(front.Handler()) + wfe.DirectoryPath
	mgmt := serve(front.ManagementHandler())

	trustServer := x509.NewCertPool()
	trustServer.AppendCertsFromPEM(serverPEM)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: trustServer}}}
	resp, err := client.Get(mgmt + wfe.RootCertPath + "0")
	if err != nil {
		t.Fatalf("fetch pebble root: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("pebble %s0: %d %s", wfe.RootCertPath, resp.StatusCode, body)
	}
	block, _ := pem.Decode(body)
	if block == nil {
		t.Fatalf("pebble root is not PEM: %q", body)
	}
	p.IssuerRoot, err = x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("parse pebble root: %v", err)
	}
	p.IssuerRoots = x509.NewCertPool()
	p.IssuerRoots.AddCert(p.IssuerRoot)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pebble log:\n%s", p.Log.String())
		}
	})
	return p
}

// selfSignedLoopback makes a self-signed ECDSA certificate for 127.0.0.1
// and localhost, valid for an hour.
func selfSignedLoopback(t *testing.T) (tls.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "pebble test endpoint"},
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// waitForCertificate dials addr with SNI serverName until the handshake
// verifies against roots (Caddy obtains the certificate in the background
// after it starts) and returns the served chain's leaf.
func waitForCertificate(t *testing.T, addr, serverName string, roots *x509.CertPool) *x509.Certificate {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	var lastErr error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		d := tls.Dialer{Config: &tls.Config{ServerName: serverName, RootCAs: roots}}
		conn, err := d.DialContext(ctx, "tcp", addr)
		cancel()
		if err == nil {
			state := conn.(*tls.Conn).ConnectionState()
			_ = conn.Close()
			return state.PeerCertificates[0]
		}
		lastErr = err
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("no certificate for %s on %s verified by Pebble's root: %v", serverName, addr, lastErr)
	return nil
}
