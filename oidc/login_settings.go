package oidc

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Algorithms are the ID token signature algorithms go-oidc verifies.
var Algorithms = []string{"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "EdDSA"}

// LoginSettings are the options of an OIDC login (apigw_oidc's) that
// CheckLogin checks.
type LoginSettings struct {
	RedirectURI, PostLogoutRedirectURI     string
	Algorithms                             []string
	LoginPath, LogoutPath, DefaultReturnTo string
	Mapping                                ClaimMapping
	MaxPendingLogins                       int
}

// Check is the one check of the login options, used at provision
// (expanded: placeholders replaced) and by the Caddyfile parser, which
// leaves a URL holding a placeholder ("{") to provision. Empty paths
// stand for their defaults.
func (s *LoginSettings) Check(expanded bool) error {
	if s.RedirectURI == "" {
		return fmt.Errorf("missing redirect_uri (this gateway's callback URL, e.g. https://gw.example.com/auth/callback)")
	}
	if expanded || !strings.Contains(s.RedirectURI, "{") {
		if _, err := s.CallbackPath(); err != nil {
			return err
		}
	}
	if p := s.PostLogoutRedirectURI; p != "" && (expanded || !strings.Contains(p, "{")) {
		if u, err := url.Parse(p); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
			return fmt.Errorf("post_logout_redirect_uri %q is not an absolute http(s) URL", p)
		}
	}
	for _, a := range s.Algorithms {
		if !slices.Contains(Algorithms, a) {
			return fmt.Errorf("unknown algorithm %q (supported: %s)", a, strings.Join(Algorithms, " "))
		}
	}
	for _, p := range [...][3]string{{"login_path", s.LoginPath, "/auth/login"}, {"logout_path", s.LogoutPath, "/auth/logout"}, {"default_return_to", s.DefaultReturnTo, "/app/"}} {
		if p[1] != "" && (!strings.HasPrefix(p[1], "/") || strings.HasPrefix(p[1], "//") || strings.ContainsAny(p[1], "?#\\") || SafeReturnTo(p[1], "") == "") {
			return fmt.Errorf("%s %q: want a local path such as %s", p[0], p[1], p[2])
		}
	}
	if s.MaxPendingLogins < 0 {
		return fmt.Errorf("max_pending_logins %d: want a positive number such as 10000", s.MaxPendingLogins)
	}
	return s.Mapping.Validate()
}

// CallbackPath returns the path of the redirect URI: the callback path.
func (s *LoginSettings) CallbackPath() (string, error) {
	u, err := url.Parse(s.RedirectURI)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.Path == "" {
		return "", fmt.Errorf("redirect_uri %q: want this gateway's absolute callback URL, e.g. https://gw.example.com/auth/callback", s.RedirectURI)
	}
	return u.Path, nil
}
