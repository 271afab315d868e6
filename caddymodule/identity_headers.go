package caddymodule

import (
	"fmt"
	"net/textproto"
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// IdentityHeaders says which upstream request headers carry the identity.
type IdentityHeaders struct {
	// User is the header for the user id (default X-Auth-User; "-" disables).
	User string `json:"user,omitempty"`
	// Claims maps a claim or metadata name to a header name, e.g.
	// {"email": "X-Auth-Email", "scope": "X-Auth-Scope"}.
	Claims map[string]string `json:"claims,omitempty"`
}

// parseAuthBlock reads the block of an authentication directive: the
// identity header options (parseIdentityHeaderOption) into hdr, and every
// other option with option, called on the option's name with d there.
func parseAuthBlock(d *caddyfile.Dispenser, hdr *IdentityHeaders, option func(name string) error) error {
	for d.NextBlock(0) {
		if ok, err := parseIdentityHeaderOption(d, hdr); ok {
			if err != nil {
				return err
			}
			continue
		}
		if err := option(d.Val()); err != nil {
			return err
		}
	}
	return nil
}

// parseIdentityHeaderOption handles the identity header subdirectives
// shared by the auth directives; it reports whether d.Val() was one:
//
//	user_header <header>|-
//	claim_header <claim> <header>
func parseIdentityHeaderOption(d *caddyfile.Dispenser, hdr *IdentityHeaders) (bool, error) {
	switch d.Val() {
	case "user_header":
		if !d.NextArg() {
			return true, d.ArgErr()
		}
		hdr.User = d.Val()
		if d.NextArg() {
			return true, d.ArgErr()
		}
		if hdr.User != "-" && !validHeaderName(hdr.User) {
			return true, d.Errf("user_header %q is not a valid header name", hdr.User)
		}
		return true, nil
	case "claim_header":
		args := d.RemainingArgs()
		if len(args) != 2 {
			return true, d.Errf("claim_header needs <claim> <header>, e.g. claim_header email X-Auth-Email")
		}
		if !validHeaderName(args[1]) {
			return true, d.Errf("claim_header: %q is not a valid header name", args[1])
		}
		if hdr.Claims == nil {
			hdr.Claims = map[string]string{}
		}
		hdr.Claims[args[0]] = args[1]
		return true, nil
	}
	return false, nil
}

// validateIdentityHeaders checks the header names of hdr (JSON configs).
func validateIdentityHeaders(hdr IdentityHeaders) error {
	if hdr.User != "" && hdr.User != "-" && !validHeaderName(hdr.User) {
		return fmt.Errorf("identity_headers.user %q is not a valid header name", hdr.User)
	}
	for c, h := range hdr.Claims {
		if !validHeaderName(h) {
			return fmt.Errorf("identity_headers.claims[%q]: %q is not a valid header name", c, h)
		}
	}
	return nil
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// canonicalHeader returns the canonical form of a header name, so the
// request path can index r.Header without allocating.
func canonicalHeader(s string) string { return textproto.CanonicalMIMEHeaderKey(s) }
