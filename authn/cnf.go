package authn

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"

	"github.com/apigw/caddy-apigw/failure"
)

// Confirmation is a token's cnf claim (RFC 7800) as far as the gateway
// checks it: a DPoP key thumbprint (RFC 9449 §6) and an X.509 certificate
// thumbprint (RFC 8705 §3.1).
type Confirmation struct {
	// Present is true when the token has a cnf claim at all.
	Present bool
	// JKT is cnf.jkt: the RFC 7638 SHA-256 thumbprint of the DPoP key.
	JKT string
	// X5TS256 is cnf["x5t#S256"]: base64url SHA-256 of the client
	// certificate's DER.
	X5TS256 string
	// Malformed is true when cnf is not an object, a known member is not
	// a non-empty string, or it has no member the gateway can check.
	Malformed bool
}

// ConfirmationOf reads the cnf claim of verified claims.
func ConfirmationOf(claims map[string]any) Confirmation {
	raw, ok := claims["cnf"]
	if !ok {
		return Confirmation{}
	}
	c := Confirmation{Present: true}
	m, ok := raw.(map[string]any)
	if !ok {
		c.Malformed = true
		return c
	}
	str := func(name string) string {
		v, has := m[name]
		if !has {
			return ""
		}
		s, ok := v.(string)
		if !ok || s == "" {
			c.Malformed = true
		}
		return s
	}
	c.JKT = str("jkt")
	c.X5TS256 = str("x5t#S256")
	if c.JKT == "" && c.X5TS256 == "" {
		// a confirmation method we cannot check (jwk, kid, ...): the
		// token must not be accepted as if it were unbound
		c.Malformed = true
	}
	return c
}

// CertThumbprint returns base64url(SHA-256(DER)) of cert: the x5t#S256 of
// RFC 8705 §3.1.
func CertThumbprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// CertMatchesX5T reports whether cert's SHA-256 thumbprint equals x5t (a
// cnf["x5t#S256"] value).
func CertMatchesX5T(cert *x509.Certificate, x5t string) bool {
	if cert == nil || x5t == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(CertThumbprint(cert)), []byte(x5t)) == 1
}

// CheckCertBinding checks a token bound to a client certificate (x5t, its
// cnf x5t#S256, RFC 8705 §3) against the client certificate of the
// connection cs: nil when x5t is empty (unbound) or matches, else
// failure.ErrInvalidToken.
func CheckCertBinding(cs *tls.ConnectionState, x5t string) error {
	switch {
	case x5t == "":
		return nil
	case cs == nil || len(cs.PeerCertificates) == 0:
		return failure.New(failure.ErrInvalidToken, "token is bound to a client certificate: present it over mutual TLS")
	case !CertMatchesX5T(cs.PeerCertificates[0], x5t):
		return failure.New(failure.ErrInvalidToken, "token is bound to another client certificate")
	}
	return nil
}
