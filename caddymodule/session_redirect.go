package caddymodule

import (
	"net/http"

	"github.com/apigw/caddy-apigw/problem"
	"github.com/apigw/caddy-apigw/sessions"
)

// loginRedirect is the 302 to the login page (sessions.LoginURL). It
// travels as a problem so the one renderer writes it (with the request
// id); browsers follow the Location.
func loginRedirect(login string, r *http.Request, hadCookie bool) *problem.Problem {
	code, detail := problem.CodeMissingCredentials, "no session: log in at "+login
	if hadCookie {
		code, detail = problem.CodeInvalidSession, "the session is invalid, ended or expired: log in again at "+login
	}
	return problem.New(http.StatusFound, code, detail).WithHeader("Location", sessions.LoginURL(login, r))
}
