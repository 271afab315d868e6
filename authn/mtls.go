package authn

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/apigw/caddy-apigw/failure"
)

// Certificate fields an mTLS identity can be read from and granted on.
const (
	CertFieldCN       = "cn"        // subject common name
	CertFieldSubject  = "subject"   // the whole subject DN (RFC 2253 string)
	CertFieldO        = "o"         // subject organizations
	CertFieldOU       = "ou"        // subject organizational units
	CertFieldSANDNS   = "san_dns"   // DNS subject alternative names
	CertFieldSANURI   = "san_uri"   // URI subject alternative names
	CertFieldSANEmail = "san_email" // email subject alternative names
	CertFieldSPIFFEID = "spiffe_id" // the one spiffe:// URI SAN of an X.509-SVID
)

// CertFields lists every field name CertMapper understands.
var CertFields = []string{CertFieldCN, CertFieldSubject, CertFieldO, CertFieldOU,
	CertFieldSANDNS, CertFieldSANURI, CertFieldSANEmail, CertFieldSPIFFEID}

// CertFieldValues returns the values of field in cert (nil when it has
// none).
func CertFieldValues(cert *x509.Certificate, field string) []string {
	switch field {
	case CertFieldCN:
		if cert.Subject.CommonName != "" {
			return []string{cert.Subject.CommonName}
		}
	case CertFieldSubject:
		return []string{cert.Subject.String()}
	case CertFieldO:
		return cert.Subject.Organization
	case CertFieldOU:
		return cert.Subject.OrganizationalUnit
	case CertFieldSANDNS:
		return cert.DNSNames
	case CertFieldSANEmail:
		return cert.EmailAddresses
	case CertFieldSANURI:
		out := make([]string, 0, len(cert.URIs))
		for _, u := range cert.URIs {
			out = append(out, u.String())
		}
		return out
	case CertFieldSPIFFEID:
		// an X.509-SVID has exactly one URI SAN, the SPIFFE ID
		// (SPIFFE X509-SVID §2); anything else has none
		if len(cert.URIs) == 1 && cert.URIs[0].Scheme == "spiffe" && cert.URIs[0].Host != "" {
			return []string{cert.URIs[0].String()}
		}
	}
	return nil
}

// CertGrant gives scopes and roles to certificates with a field value that
// matches a pattern.
type CertGrant struct {
	// Field is the certificate field: cn, subject, o, ou, san_dns,
	// san_uri, san_email or spiffe_id.
	Field string `json:"field"`
	// Pattern is a glob matched against each value of the field: "*"
	// matches any run of characters (including "/" and "."), "?" one
	// character, e.g. "spiffe://example.org/billing/*".
	Pattern string `json:"pattern"`
	// Scopes are granted on a match.
	Scopes []string `json:"scopes,omitempty"`
	// Roles are granted on a match.
	Roles []string `json:"roles,omitempty"`

	re *regexp.Regexp
}

// CertMapper turns a verified client certificate into an Identity.
type CertMapper struct {
	userFrom []string
	grants   []CertGrant
}

// NewCertMapper returns a mapper taking the user id from the first field of
// userFrom that the certificate has (default: cn) and applying grants. It
// is the one check of apigw_mtls's settings (provision and Caddyfile).
func NewCertMapper(userFrom []string, grants []CertGrant) (*CertMapper, error) {
	if len(userFrom) == 0 {
		userFrom = []string{CertFieldCN}
	}
	for _, f := range userFrom {
		if !slices.Contains(CertFields, f) {
			return nil, fmt.Errorf("user_from: unknown certificate field %q (known: %s)", f, strings.Join(CertFields, " "))
		}
	}
	gs := make([]CertGrant, len(grants))
	for i, g := range grants {
		if !slices.Contains(CertFields, g.Field) {
			return nil, fmt.Errorf("grant: unknown certificate field %q (known: %s)", g.Field, strings.Join(CertFields, " "))
		}
		if g.Pattern == "" {
			return nil, fmt.Errorf("grant %s: empty pattern", g.Field)
		}
		if len(g.Scopes) == 0 && len(g.Roles) == 0 {
			return nil, fmt.Errorf("grant %s %s grants nothing: add scopes or roles", g.Field, g.Pattern)
		}
		g.re = globRegexp(g.Pattern)
		gs[i] = g
	}
	return &CertMapper{userFrom: slices.Clone(userFrom), grants: gs}, nil
}

// globRegexp compiles a glob (* and ?) into an anchored regexp.
func globRegexp(glob string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`^`)
	for _, r := range glob {
		switch r {
		case '*':
			b.WriteString(`.*`)
		case '?':
			b.WriteString(`.`)
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString(`$`)
	return regexp.MustCompile(b.String())
}

// Authenticate maps the client certificate of a TLS connection to an
// identity (Identity). Only a chain the TLS layer verified counts
// (client_auth require_and_verify or verify_if_given): without a
// certificate it is failure.ErrMissingCredentials, with an unverified one
// or one Identity refuses failure.ErrInvalidCredentials.
func (m *CertMapper) Authenticate(cs *tls.ConnectionState) (*Identity, error) {
	if cs == nil || len(cs.PeerCertificates) == 0 {
		return nil, failure.New(failure.ErrMissingCredentials, "a client certificate is required (mutual TLS)")
	}
	if len(cs.VerifiedChains) == 0 {
		return nil, failure.New(failure.ErrInvalidCredentials, "the client certificate is not verified by a trusted CA")
	}
	return m.Identity(cs.PeerCertificates[0])
}

// Identity maps a verified client certificate to an identity (method
// "mtls"): the user id, scopes and roles of every matching grant, and the
// certificate's subject, issuer, serial, SPIFFE ID and SHA-256 thumbprint
// (x5t#S256, RFC 8705) as claims.
func (m *CertMapper) Identity(cert *x509.Certificate) (*Identity, error) {
	var user string
	for _, f := range m.userFrom {
		if vs := CertFieldValues(cert, f); len(vs) > 0 && vs[0] != "" {
			user = vs[0]
			break
		}
	}
	if user == "" {
		return nil, failure.New(failure.ErrInvalidCredentials, "the client certificate has none of the fields the user id is read from")
	}
	if !ValidHeaderValue(user) {
		return nil, failure.New(failure.ErrInvalidCredentials, "the client certificate's user id has control characters")
	}
	id := &Identity{ID: user, Method: "mtls", Claims: map[string]any{
		"subject":  cert.Subject.String(),
		"issuer":   cert.Issuer.String(),
		"serial":   hex.EncodeToString(cert.SerialNumber.Bytes()),
		"x5t#S256": CertThumbprint(cert),
	}}
	if s := CertFieldValues(cert, CertFieldSPIFFEID); len(s) > 0 {
		id.Claims["spiffe_id"] = s[0]
	}
	for _, g := range m.grants {
		for _, v := range CertFieldValues(cert, g.Field) {
			if g.re.MatchString(v) {
				id.Scopes = appendNew(id.Scopes, g.Scopes)
				id.Roles = appendNew(id.Roles, g.Roles)
				break
			}
		}
	}
	return id, nil
}

func appendNew(dst, add []string) []string {
	for _, s := range add {
		if !slices.Contains(dst, s) {
			dst = append(dst, s)
		}
	}
	return dst
}
