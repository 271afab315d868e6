package caddymodule

import (
	"errors"
	"net/http"

	"github.com/apigw/caddy-apigw/failure"
	"github.com/apigw/caddy-apigw/problem"
)

// errorTable is the adapter's one map from the domain packages' failure
// kinds (package failure) to an HTTP status and a problem code. A kind
// that is not here is a bug: problemOf answers it as a 500.
var errorTable = [...]struct {
	kind   error
	status int
	code   string
}{
	{failure.ErrMissingCredentials, http.StatusUnauthorized, problem.CodeMissingCredentials},
	{failure.ErrInvalidAPIKey, http.StatusUnauthorized, problem.CodeInvalidAPIKey},
	{failure.ErrInvalidToken, http.StatusUnauthorized, problem.CodeInvalidToken},
	{failure.ErrTokenExpired, http.StatusUnauthorized, problem.CodeTokenExpired},
	{failure.ErrTokenRevoked, http.StatusUnauthorized, problem.CodeTokenRevoked},
	{failure.ErrInvalidDPoPProof, http.StatusUnauthorized, problem.CodeInvalidDPoPProof},
	{failure.ErrInvalidSession, http.StatusUnauthorized, problem.CodeInvalidSession},
	{failure.ErrInvalidCredentials, http.StatusUnauthorized, problem.CodeInvalidCredentials},
	{failure.ErrInvalidSignature, http.StatusUnauthorized, problem.CodeInvalidSignature},
	{failure.ErrReplayedRequest, http.StatusUnauthorized, problem.CodeReplayedRequest},
	{failure.ErrCSRFRejected, http.StatusForbidden, problem.CodeCSRFRejected},
	{failure.ErrInsufficientScope, http.StatusForbidden, problem.CodeInsufficientScope},
	{failure.ErrRateLimited, http.StatusTooManyRequests, problem.CodeRateLimited},
	{failure.ErrValidationFailed, http.StatusBadRequest, problem.CodeValidationFailed},
	{failure.ErrPayloadTooLarge, http.StatusRequestEntityTooLarge, problem.CodePayloadTooLarge},
	{failure.ErrUnsupportedMediaType, http.StatusUnsupportedMediaType, problem.CodeUnsupportedMediaType},
	{failure.ErrBadRequest, http.StatusBadRequest, problem.CodeBadRequest},
	{failure.ErrUnavailable, http.StatusServiceUnavailable, problem.CodeServiceUnavailable},
	{failure.ErrNotFound, http.StatusNotFound, problem.CodeNotFound},
	{failure.ErrMethodNotAllowed, http.StatusMethodNotAllowed, problem.CodeMethodNotAllowed},
}

// problemFromError returns the problem for a domain error: the status and code
// of its kind, and its client-safe detail (the status's generic detail
// when it has none). A nil or unknown error is a 500 internal_error.
func problemFromError(err error) *problem.Problem {
	if err == nil {
		return problem.ForStatus(http.StatusInternalServerError)
	}
	// fast path: a *failure.Error as the domain returned it (no
	// errors.Is/As walk, which allocates on the refusal path)
	kind, detail := error(nil), ""
	if fe, ok := err.(*failure.Error); ok {
		kind, detail = fe.Kind, fe.Detail
	}
	for _, row := range errorTable {
		if kind == row.kind || kind == nil && errors.Is(err, row.kind) {
			if kind == nil {
				detail = failure.Detail(err)
			}
			if detail == "" {
				detail = problem.ForStatus(row.status).Detail
			}
			return problem.New(row.status, row.code, detail)
		}
	}
	return problem.ForStatus(http.StatusInternalServerError)
}
