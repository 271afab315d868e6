package caddymodule

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap"

	"github.com/apigw/caddy-apigw/authn"
	"github.com/apigw/caddy-apigw/problem"
)

// testCert makes a certificate signed by its own key (tests of the
// provider only look at the fields; verification is Caddy's).
func testCert(t testing.TB, cn string, uris ...string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"Example"}},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		DNSNames:     []string{"svc.example.org"},
	}
	for _, u := range uris {
		p, _ := url.Parse(u)
		tmpl.URIs = append(tmpl.URIs, p)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

func tlsState(cert *x509.Certificate, verified bool) *tls.ConnectionState {
	st := &tls.ConnectionState{HandshakeComplete: true}
	if cert != nil {
		st.PeerCertificates = []*x509.Certificate{cert}
		if verified {
			st.VerifiedChains = [][]*x509.Certificate{{cert}}
		}
	}
	return st
}

func TestMTLSAuthenticate(t *testing.T) {
	m := &MTLSAuth{
		UserFrom: []string{"spiffe_id", "cn"},
		Grants: []MTLSGrant{
			{Field: "spiffe_id", Pattern: "spiffe://example.org/billing/*", Scopes: []string{"billing:read"}, Roles: []string{"billing"}},
			{Field: "o", Pattern: "Exam?le", Scopes: []string{"read"}},
		},
		IdentityHeaders: IdentityHeaders{Claims: map[string]string{"scope": "X-Auth-Scope"}},
	}
	if err := m.provision(zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	spiffe := testCert(t, "billing-svc", "spiffe://example.org/billing/api/v1")
	plain := testCert(t, "reporting")
	noUser := testCert(t, "")
	for _, tc := range []struct {
		name      string
		state     *tls.ConnectionState
		user      string
		scope     string
		wantCode  string
		wantRoles []string
	}{
		{"SPIFFE ID", tlsState(spiffe, true), "spiffe://example.org/billing/api/v1", "billing:read read", "", []string{"billing"}},
		{"CN fallback", tlsState(plain, true), "reporting", "read", "", nil},
		{"plain HTTP", nil, "", "", problem.CodeMissingCredentials, nil},
		{"no certificate", tlsState(nil, false), "", "", problem.CodeMissingCredentials, nil},
		{"unverified certificate", tlsState(spiffe, false), "", "", problem.CodeInvalidCredentials, nil},
		{"no user field", tlsState(noUser, true), "", "", problem.CodeInvalidCredentials, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := authRequest("/mtls/x", "127.0.0.1", http.Header{"X-Auth-User": {"forged"}})
			r.TLS = tc.state
			user, ok, err := m.Authenticate(httptest.NewRecorder(), r)
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantCode != "" {
				if ok {
					t.Fatalf("accepted as %+v", user)
				}
				if p := recordedProblem(r); p.Code != tc.wantCode || p.Status != http.StatusUnauthorized {
					t.Fatalf("problem %d %s, want %s", p.Status, p.Code, tc.wantCode)
				}
				return
			}
			if !ok || user.ID != tc.user {
				t.Fatalf("got %+v %v, want %s", user, ok, tc.user)
			}
			if r.Header.Get("X-Auth-User") != tc.user || r.Header.Get("X-Auth-Method") != "mtls" || r.Header.Get("X-Auth-Scope") != tc.scope {
				t.Fatalf("upstream headers %v", r.Header)
			}
			id := IdentityOf(r)
			for _, role := range tc.wantRoles {
				if !id.HasRole(role) {
					t.Fatalf("identity %+v lacks role %s", id, role)
				}
			}
			if id.Claims["x5t#S256"] != authn.CertThumbprint(tc.state.PeerCertificates[0]) {
				t.Fatalf("claims %v", id.Claims)
			}
		})
	}
}

func TestMTLSProvisionErrors(t *testing.T) {
	for _, m := range []*MTLSAuth{
		{UserFrom: []string{"serial"}},
		{Grants: []MTLSGrant{{Field: "cn", Pattern: "*"}}},
		{Grants: []MTLSGrant{{Field: "nope", Pattern: "*", Scopes: []string{"a"}}}},
		{Grants: []MTLSGrant{{Field: "cn", Scopes: []string{"a"}}}},
	} {
		if err := m.provision(zap.NewNop()); err == nil {
			t.Errorf("%+v: provisioned", m)
		}
	}
}

// TestJWTCertificateBound: a token with cnf x5t#S256 (RFC 8705) passes
// only over a TLS connection whose client certificate has that thumbprint.
func TestJWTCertificateBound(t *testing.T) {
	j := provisionJWT(t, &JWTAuth{Secret: testJWTSecret, Algorithms: []string{"HS256"}}, newTestStore(t))
	exp := time.Now().Add(time.Hour).Unix()
	cert := testCert(t, "client")
	other := testCert(t, "client")
	bound := hs256(t, jwt.MapClaims{"sub": "alice", "exp": exp, "cnf": map[string]any{"x5t#S256": authn.CertThumbprint(cert)}})
	for _, tc := range []struct {
		name  string
		token string
		state *tls.ConnectionState
		ok    bool
	}{
		{"right certificate", bound, tlsState(cert, true), true},
		{"right certificate, not chain-verified (self-signed binding)", bound, tlsState(cert, false), true},
		{"other certificate", bound, tlsState(other, true), false},
		{"no certificate", bound, tlsState(nil, false), false},
		{"plain HTTP", bound, nil, false},
		{"unknown cnf member", hs256(t, jwt.MapClaims{"sub": "a", "exp": exp, "cnf": map[string]any{"kid": "k"}}), tlsState(cert, true), false},
		{"cnf not an object", hs256(t, jwt.MapClaims{"sub": "a", "exp": exp, "cnf": "x"}), tlsState(cert, true), false},
		{"DPoP-bound as Bearer", hs256(t, jwt.MapClaims{"sub": "a", "exp": exp, "cnf": map[string]any{"jkt": "abc"}}), tlsState(cert, true), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := authRequest("/jwt/x", "127.0.0.1", http.Header{"Authorization": {"Bearer " + tc.token}})
			r.TLS = tc.state
			_, ok, err := j.Authenticate(httptest.NewRecorder(), r)
			if err != nil {
				t.Fatal(err)
			}
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if !ok {
				if p := recordedProblem(r); p.Code != problem.CodeInvalidToken {
					t.Fatalf("problem %s %q", p.Code, p.Detail)
				}
			}
		})
	}
}
