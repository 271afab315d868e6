// Package failure is the one error vocabulary of caddy-apigw's domain
// packages (authn, sessions, limiter, validation, store, oidc, httpsig,
// hmacsig): every reason a request is refused is one sentinel here, in the
// golang-jwt style, checked with errors.Is.
//
// A domain function returns New(kind, detail) (or Wrap with a cause); the
// detail is safe to show a client and never holds a secret. The adapter
// (caddymodule) has the one table that maps each kind to an HTTP status
// and a stable problem code (DESIGN.md, "Error codes"); nothing else
// knows the codes. This package imports nothing of the project.
package failure

import "errors"

// The kinds of failure. Each stands for one problem code of DESIGN.md.
var (
	// ErrMissingCredentials: the request carries no credential at all.
	ErrMissingCredentials = errors.New("missing credentials")
	// ErrInvalidAPIKey: an API key that is unknown, revoked, expired or
	// used from an address it is not allowed from.
	ErrInvalidAPIKey = errors.New("invalid api key")
	// ErrInvalidToken: a bearer token that fails any check but expiry
	// and revocation.
	ErrInvalidToken = errors.New("invalid token")
	// ErrTokenExpired: a token past its exp (plus leeway).
	ErrTokenExpired = errors.New("token expired")
	// ErrTokenRevoked: a token whose jti (or key) has been revoked.
	ErrTokenRevoked = errors.New("token revoked")
	// ErrInvalidDPoPProof: a missing or bad DPoP proof (RFC 9449).
	ErrInvalidDPoPProof = errors.New("invalid dpop proof")
	// ErrInvalidSession: no live session for the session cookie.
	ErrInvalidSession = errors.New("invalid session")
	// ErrInvalidCredentials: a login (password or OIDC callback) that
	// does not authenticate anyone.
	ErrInvalidCredentials = errors.New("invalid credentials")
	// ErrInvalidSignature: a request signature (HMAC or RFC 9421) that
	// is missing, malformed, stale or does not verify.
	ErrInvalidSignature = errors.New("invalid signature")
	// ErrReplayedRequest: a signature nonce seen before.
	ErrReplayedRequest = errors.New("replayed request")
	// ErrCSRFRejected: an unsafe cookie-authenticated request without a
	// valid CSRF token or from a foreign origin.
	ErrCSRFRejected = errors.New("csrf rejected")
	// ErrInsufficientScope: an authenticated caller without the scope
	// or role the route requires.
	ErrInsufficientScope = errors.New("insufficient scope")
	// ErrRateLimited: the caller has no capacity left in a zone.
	ErrRateLimited = errors.New("rate limited")
	// ErrValidationFailed: a request that breaks its schema.
	ErrValidationFailed = errors.New("validation failed")
	// ErrPayloadTooLarge: a body over the configured cap.
	ErrPayloadTooLarge = errors.New("payload too large")
	// ErrUnsupportedMediaType: a body whose Content-Type (or encoding)
	// the route does not take.
	ErrUnsupportedMediaType = errors.New("unsupported media type")
	// ErrBadRequest: a request that cannot be understood.
	ErrBadRequest = errors.New("bad request")
	// ErrUnavailable: a backend the decision needs (the store, Redis,
	// an identity provider) is not answering. The one such sentinel:
	// every package wraps this one.
	ErrUnavailable = errors.New("unavailable")
	// ErrNotFound: a path the API (an OpenAPI document) does not declare.
	ErrNotFound = errors.New("not found")
	// ErrMethodNotAllowed: a request method the resource does not take
	// (an OpenAPI document's undeclared method; the edge's TRACE and
	// CONNECT refusals).
	ErrMethodNotAllowed = errors.New("method not allowed")
)

// Error is a failure of one kind with a client-safe detail and, for the
// logs, the underlying cause.
type Error struct {
	// Kind is one of the sentinels above.
	Kind error
	// Detail is a short human explanation, safe to show a client.
	Detail string
	// Cause is the underlying error (may be nil); never shown a client.
	Cause error
}

// New returns a failure of kind with detail.
func New(kind error, detail string) *Error { return &Error{Kind: kind, Detail: detail} }

// Wrap returns a failure of kind with detail and the underlying cause.
func Wrap(kind error, detail string, cause error) *Error {
	return &Error{Kind: kind, Detail: detail, Cause: cause}
}

// Error returns "kind: detail" (and the cause, for logs).
func (e *Error) Error() string {
	s := e.Kind.Error()
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Cause != nil {
		s += ": " + e.Cause.Error()
	}
	return s
}

// Is reports whether target is e's kind, so errors.Is(err, ErrX) works
// through any wrapping.
func (e *Error) Is(target error) bool { return target == e.Kind }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Cause }

// Detail returns the client-safe detail of the first *Error in err's
// chain, or "" when there is none.
func Detail(err error) string {
	var fe *Error
	if errors.As(err, &fe) {
		return fe.Detail
	}
	return ""
}
