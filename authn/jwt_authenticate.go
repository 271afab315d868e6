package authn

import (
	"context"
	"crypto/x509"
	"errors"

	"github.com/apigw/caddy-apigw/failure"
)

// JWTAuthenticator is bearer-JWT authentication as one call: verify the
// token (JWTVerifier, with its verified-token cache), build its identity,
// check how it is bound (cnf), and refuse a revoked jti.
type JWTAuthenticator struct {
	verifier    *JWTVerifier
	revocations *Revocations
	userClaim   string
}

// NewJWTAuthenticator returns the authenticator of tokens verified by v,
// whose user id is the claim userClaim (default sub) and whose jti is
// checked against rev.
func NewJWTAuthenticator(v *JWTVerifier, rev *Revocations, userClaim string) *JWTAuthenticator {
	return &JWTAuthenticator{verifier: v, revocations: rev, userClaim: userClaim}
}

// RevokedToken is the cause of a failure.ErrTokenRevoked: the revoked
// token's id, for the audit log.
type RevokedToken struct {
	// JTI is the revoked token's id.
	JTI string
}

// Error returns "token <jti> is revoked".
func (e *RevokedToken) Error() string { return "token " + e.JTI + " is revoked" }

// Authenticate returns the identity of token. bind, when not nil, checks
// the verified claims against how the token was presented (see
// CheckBinding; a DPoP proof) before the revocation check; its error is
// returned as it is. With dpop (the token came with the DPoP scheme and
// bind checked the proof) the identity is the request's own, with Method
// "dpop"; otherwise it may be shared by every request presenting the
// token (the verified-token cache) and must be treated as read-only.
// Refusals are failure.ErrInvalidToken, failure.ErrTokenExpired and
// failure.ErrTokenRevoked (with a *RevokedToken cause); a revocation store
// that cannot answer is a failure.ErrUnavailable.
func (a *JWTAuthenticator) Authenticate(ctx context.Context, token string, dpop bool, bind func(claims map[string]any) error) (*Identity, error) {
	id, claims, err := a.verifier.VerifyIdentity(token, a.userClaim)
	if err != nil {
		return nil, err
	}
	if bind != nil {
		if err := bind(claims); err != nil {
			return nil, err
		}
	}
	if dpop {
		did, err := IdentityFromClaims(claims, a.userClaim)
		if err != nil {
			return nil, err
		}
		did.Method = "dpop"
		id = did
	}
	if jti, _ := claims["jti"].(string); jti != "" {
		revoked, err := a.revocations.IsRevoked(ctx, jti)
		if err != nil {
			return nil, errUnavailable(err)
		}
		if revoked {
			return nil, failure.Wrap(failure.ErrTokenRevoked, "token has been revoked", &RevokedToken{JTI: jti})
		}
	}
	return id, nil
}

// ErrDPoPChallenge is the cause of a binding refusal that is answered with
// the DPoP challenge (RFC 9449 §7.1) rather than the Bearer one.
var ErrDPoPChallenge = errors.New("refused with the DPoP challenge")

// CheckBinding decides whether a verified token with confirmation cnf may
// be used as it was presented: over a connection whose TLS client
// certificate is cert (nil: none), with the DPoP scheme or as a Bearer
// token, on a route that requires DPoP or not. A token with a cnf the
// gateway cannot check, bound to another certificate (RFC 8705), bound to
// a DPoP key but presented as Bearer, or presented as DPoP without cnf.jkt
// is refused (failure.ErrInvalidToken; ErrDPoPChallenge in the chain when
// the refusal speaks DPoP). For the DPoP scheme nil means the proof is
// still to be checked against cnf.JKT.
func CheckBinding(cnf Confirmation, cert *x509.Certificate, dpopScheme, dpopRequired bool) error {
	if cnf.Malformed {
		return failure.New(failure.ErrInvalidToken, "token has a cnf claim the gateway cannot check")
	}
	if err := CheckCertBinding(cert, cnf.X5TS256); err != nil {
		return err
	}
	switch {
	case !dpopScheme && cnf.JKT != "":
		return failure.Wrap(failure.ErrInvalidToken,
			"token is DPoP-bound: present it as \"Authorization: DPoP <token>\" with a DPoP proof", ErrDPoPChallenge)
	case !dpopScheme && dpopRequired:
		return failure.Wrap(failure.ErrInvalidToken,
			"a DPoP-bound token is required: present it as \"Authorization: DPoP <token>\" with a DPoP proof", ErrDPoPChallenge)
	case dpopScheme && cnf.JKT == "":
		return failure.Wrap(failure.ErrInvalidToken,
			"token is not DPoP-bound (no cnf.jkt): it cannot be presented as DPoP", ErrDPoPChallenge)
	}
	return nil
}

// CheckCertBinding checks a token's cnf x5t#S256 (RFC 8705 §3) against
// cert, the client certificate of the TLS connection (nil: none), whose
// key the client proved in the handshake. It returns nil when x5t is
// empty or matches, else a failure.ErrInvalidToken saying why.
func CheckCertBinding(cert *x509.Certificate, x5t string) error {
	switch {
	case x5t == "":
		return nil
	case cert == nil:
		return failure.New(failure.ErrInvalidToken, "token is bound to a client certificate: present it over mutual TLS")
	case !CertMatchesX5T(cert, x5t):
		return failure.New(failure.ErrInvalidToken, "token is bound to another client certificate")
	}
	return nil
}
