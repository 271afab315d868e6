package oidc

import (
	"crypto/tls"
	"crypto/x509"
	"errors"

	"github.com/apigw/caddy-apigw/authn"
	"github.com/apigw/caddy-apigw/failure"
)

// Identity methods of an introspected token.
const (
	MethodIntrospection = "introspection" // presented as Bearer
	MethodDPoP          = "dpop"          // presented as DPoP, proof checked
)

// ErrDPoPChallenge marks (as the cause of a failure.ErrInvalidToken) a
// refusal about DPoP binding: answer it with the DPoP challenge rather
// than the Bearer one (RFC 9449 §7.1).
var ErrDPoPChallenge = errors.New("oidc: refused for DPoP binding")

// Presentation is how a request presented an introspected token.
type Presentation struct {
	// DPoP is true for `Authorization: DPoP <token>`.
	DPoP bool
	// DPoPRequired is true when the route takes DPoP-bound tokens only.
	DPoPRequired bool
	// TLS is the request's connection (nil over plain HTTP), for a token
	// bound to a client certificate.
	TLS *tls.ConnectionState
}

// Admit decides whether the answer r lets the request in: the token must
// be active, name a user (sub, else client_id) and its cnf must fit how
// it was presented (RFC 8705 certificate, RFC 9449 DPoP). It runs on
// every request, cached answer or not: a cached answer never stands in
// for the certificate or proof of this request. On success it returns
// the identity (method "introspection", or "dpop" — the caller then
// checks the proof against r.CnfJKT). Refusals are failure.ErrInvalidToken;
// those about DPoP binding wrap ErrDPoPChallenge.
func (r *Result) Admit(p Presentation) (*authn.Identity, error) {
	if !r.Active {
		return nil, failure.New(failure.ErrInvalidToken, "the token is not an active access token (unknown, expired, revoked, or a refresh token)")
	}
	user := r.Sub
	if user == "" {
		user = r.ClientID
	}
	if user == "" {
		return nil, failure.New(failure.ErrInvalidToken, "the token has neither sub nor client_id")
	}
	if r.CnfUnknown {
		return nil, failure.New(failure.ErrInvalidToken, "the token has a cnf the gateway cannot check (neither jkt nor x5t#S256)")
	}
	if err := authn.CheckCertBinding(peerCert(p.TLS), r.CnfX5T); err != nil {
		return nil, err
	}
	switch {
	case !p.DPoP && r.CnfJKT != "":
		return nil, dpopRefusal("the token is DPoP-bound (cnf.jkt): present it as \"Authorization: DPoP <token>\" with a DPoP proof, not as Bearer")
	case !p.DPoP && p.DPoPRequired:
		return nil, dpopRefusal("a DPoP-bound token is required: present it as \"Authorization: DPoP <token>\" with a DPoP proof")
	case p.DPoP && r.CnfJKT == "":
		return nil, dpopRefusal("the token is not DPoP-bound (no cnf.jkt in its introspection answer): it cannot be presented as DPoP")
	}
	id := &authn.Identity{ID: user, Method: MethodIntrospection, Scopes: r.Scopes}
	if p.DPoP {
		id.Method = MethodDPoP
	}
	if r.ClientID != "" || r.Username != "" {
		id.Claims = make(map[string]any, 2)
		if r.ClientID != "" {
			id.Claims["client_id"] = r.ClientID
		}
		if r.Username != "" {
			id.Claims["username"] = r.Username
		}
	}
	return id, nil
}

func dpopRefusal(detail string) error {
	return failure.Wrap(failure.ErrInvalidToken, detail, ErrDPoPChallenge)
}

// peerCert is the client certificate of the connection cs (nil: none).
func peerCert(cs *tls.ConnectionState) *x509.Certificate {
	if cs == nil || len(cs.PeerCertificates) == 0 {
		return nil
	}
	return cs.PeerCertificates[0]
}
