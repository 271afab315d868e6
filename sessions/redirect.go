package sessions

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// CheckLoginRedirect checks a login_redirect setting: a local absolute
// path without query.
func CheckLoginRedirect(p string) error {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "?#\\ \t\r\n") {
		return fmt.Errorf("login_redirect %q: want a local path such as /auth/login", p)
	}
	return nil
}

// IsNavigation reports whether r looks like a browser page navigation: a
// GET or HEAD that accepts text/html. Only those are redirected to the
// login page; API calls get their 401.
func IsNavigation(r *http.Request) bool {
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

// LoginURL is the login page login with return_to set to r's path and
// query, where the browser returns after logging in.
func LoginURL(login string, r *http.Request) string {
	back := r.URL.EscapedPath()
	if r.URL.RawQuery != "" {
		back += "?" + r.URL.RawQuery
	}
	return login + "?return_to=" + url.QueryEscape(back)
}
