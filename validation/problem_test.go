package validation

import (
	"errors"
	"net/http"

	"github.com/apigw/caddy-apigw/failure"
	"github.com/apigw/caddy-apigw/problem"
)

// asProblem renders a Validate error the way the adapter's error table
// does, for the tests' assertions on status, code and field errors.
func asProblem(err error) *problem.Problem {
	if err == nil {
		return nil
	}
	for _, row := range []struct {
		kind   error
		status int
		code   string
	}{
		{failure.ErrValidationFailed, http.StatusBadRequest, problem.CodeValidationFailed},
		{failure.ErrPayloadTooLarge, http.StatusRequestEntityTooLarge, problem.CodePayloadTooLarge},
		{failure.ErrUnsupportedMediaType, http.StatusUnsupportedMediaType, problem.CodeUnsupportedMediaType},
		{failure.ErrBadRequest, http.StatusBadRequest, problem.CodeBadRequest},
		{failure.ErrNotFound, http.StatusNotFound, problem.CodeNotFound},
		{failure.ErrMethodNotAllowed, http.StatusMethodNotAllowed, problem.CodeMethodNotAllowed},
	} {
		if errors.Is(err, row.kind) {
			p := problem.New(row.status, row.code, failure.Detail(err))
			p.Errors = FieldErrors(err)
			return p
		}
	}
	return problem.ForStatus(http.StatusInternalServerError)
}
