package authn

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net/url"
	"strings"
	"testing"

	"github.com/apigw/caddy-apigw/failure"
)

// certFor is a certificate as the TLS layer hands it over, with only
// the fields CertMapper reads (a mapper never checks signatures: the
// handshake did).
func certFor(cn string, uris ...string) *x509.Certificate {
	c := &x509.Certificate{Subject: pkix.Name{CommonName: cn}, SerialNumber: big.NewInt(7), Raw: []byte("der of " + cn)}
	for _, u := range uris {
		pu, _ := url.Parse(u)
		c.URIs = append(c.URIs, pu)
	}
	return c
}

// The mTLS decision: no certificate, an unverified one, one without a
// user id are refused with their failure kinds; a verified one maps to
// the user and the grants that match.
func TestMTLSAuthenticateKinds(t *testing.T) {
	m, err := NewCertMapper([]string{CertFieldSPIFFEID, CertFieldCN}, []CertGrant{
		{Field: CertFieldSPIFFEID, Pattern: "spiffe://example.org/billing/*", Scopes: []string{"billing"}},
		{Field: CertFieldCN, Pattern: "svc-?", Roles: []string{"service"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	svid := certFor("svc-a", "spiffe://example.org/billing/api")
	verified := func(c *x509.Certificate) *tls.ConnectionState {
		return &tls.ConnectionState{PeerCertificates: []*x509.Certificate{c}, VerifiedChains: [][]*x509.Certificate{{c}}}
	}
	for _, tc := range []struct {
		name string
		cs   *tls.ConnectionState
		kind error
	}{
		{"no TLS", nil, failure.ErrMissingCredentials},
		{"no certificate", &tls.ConnectionState{}, failure.ErrMissingCredentials},
		{"unverified", &tls.ConnectionState{PeerCertificates: []*x509.Certificate{svid}}, failure.ErrInvalidCredentials},
		{"no user field", verified(certFor("")), failure.ErrInvalidCredentials},
		{"control character", verified(certFor("a\nb")), failure.ErrInvalidCredentials},
	} {
		if _, err := m.Authenticate(tc.cs); !errors.Is(err, tc.kind) || failure.Detail(err) == "" {
			t.Errorf("%s: %v, want %v with a detail", tc.name, err, tc.kind)
		}
	}
	id, err := m.Authenticate(verified(svid))
	if err != nil {
		t.Fatal(err)
	}
	if id.ID != "spiffe://example.org/billing/api" || id.Method != "mtls" || len(id.Scopes) != 1 || len(id.Roles) != 1 ||
		id.Claims["x5t#S256"] != CertThumbprint(svid) || id.Claims["spiffe_id"] != id.ID {
		t.Fatalf("identity %+v", id)
	}
}

func TestMTLSCertMapperChecks(t *testing.T) {
	for _, tc := range []struct {
		userFrom []string
		grants   []CertGrant
		want     string
	}{
		{[]string{"serial"}, nil, `unknown certificate field "serial"`},
		{nil, []CertGrant{{Field: "cn", Pattern: "admin-*"}}, "grant cn admin-* grants nothing"},
		{nil, []CertGrant{{Field: "cn", Scopes: []string{"a"}}}, "empty pattern"},
	} {
		if _, err := NewCertMapper(tc.userFrom, tc.grants); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v %v: %v, want %q", tc.userFrom, tc.grants, err, tc.want)
		}
	}
}
