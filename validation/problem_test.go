package validation

import (
	"errors"
	"net/http"

	"github.com/apigw/caddy-apigw/failure"
	"github.com/apigw/caddy-apigw/problem"
)

// testKinds are the failure kinds Validate returns, with the status and
// code the adapter's error table gives them (as DESIGN.md fixes them).
var testKinds = []struct {
	kind   error
	status int
	code   string
}{
	{failure.ErrValidationFailed, 400, "validation_failed"}, {failure.ErrPayloadTooLarge, 413, "payload_too_large"},
	{failure.ErrUnsupportedMediaType, 415, "unsupported_media_type"}, {failure.ErrBadRequest, 400, "bad_request"},
	{failure.ErrNotFound, 404, "not_found"}, {failure.ErrMethodNotAllowed, 405, "method_not_allowed"},
}

// asProblem renders a Validate error for the tests' assertions on
// status, code and field errors.
func asProblem(err error) *problem.Problem {
	if err == nil {
		return nil
	}
	for _, k := range testKinds {
		if errors.Is(err, k.kind) {
			p := problem.New(k.status, k.code, failure.Detail(err))
			p.Errors = FieldErrors(err)
			return p
		}
	}
	return problem.ForStatus(http.StatusInternalServerError)
}
