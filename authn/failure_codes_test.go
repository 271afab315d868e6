package authn

import (
	"errors"

	"github.com/apigw/caddy-apigw/failure"
)

// The codes the tests of this package expect, as DESIGN.md names them
// (and the RFC 9449 nonce error); the adapter's table maps kinds to them.
const (
	CodeInvalidToken     = "invalid_token"
	CodeTokenExpired     = "token_expired"
	CodeInvalidDPoPProof = "invalid_dpop_proof"
	CodeUseDPoPNonce     = "use_dpop_nonce"
)

// codeOf returns the code and detail of a refusal err, and whether err is
// a refusal (a *failure.Error) at all.
func codeOf(err error) (code, detail string, ok bool) {
	var fe *failure.Error
	if !errors.As(err, &fe) {
		return "", "", false
	}
	var nr *DPoPNonceRequired
	switch {
	case errors.As(err, &nr):
		code = CodeUseDPoPNonce
	case errors.Is(err, failure.ErrInvalidToken):
		code = CodeInvalidToken
	case errors.Is(err, failure.ErrTokenExpired):
		code = CodeTokenExpired
	case errors.Is(err, failure.ErrInvalidDPoPProof):
		code = CodeInvalidDPoPProof
	default:
		code = fe.Kind.Error()
	}
	return code, fe.Detail, true
}
