package caddymodule

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/apigw/caddy-apigw/problem"
)

// checkLoginRedirect checks apigw_session's login_redirect: a local
// absolute path without query.
func checkLoginRedirect(p string) error {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "?#\\ \t\r\n") {
		return fmt.Errorf("login_redirect %q: want a local path such as /auth/login", p)
	}
	return nil
}

// isNavigation reports whether r looks like a browser page navigation: a
// GET or HEAD that accepts text/html. Only those are redirected to the
// login page; API calls get their 401.
func isNavigation(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	for _, a := range r.Header.Values("Accept") {
		if strings.Contains(strings.ToLower(a), "text/html") {
			return true
		}
	}
	return false
}

// loginRedirect is the 302 to the login page with return_to set to the
// request's path and query. It travels as a problem so the one renderer
// writes it (with the request id); browsers follow the Location.
func loginRedirect(login string, r *http.Request, hadCookie bool) *problem.Problem {
	back := r.URL.EscapedPath()
	if r.URL.RawQuery != "" {
		back += "?" + r.URL.RawQuery
	}
	code, detail := problem.CodeMissingCredentials, "no session: log in at "+login
	if hadCookie {
		code, detail = problem.CodeInvalidSession, "the session is invalid, ended or expired: log in again at "+login
	}
	return problem.New(http.StatusFound, code, detail).
		WithHeader("Location", login+"?return_to="+url.QueryEscape(back))
}
