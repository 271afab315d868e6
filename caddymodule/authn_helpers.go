package caddymodule

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/textproto"
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

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

// clientAddr returns the client IP Caddy determined (honouring
// trusted_proxies), or the zero Addr.
func clientAddr(r *http.Request) netip.Addr {
	s, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
	if s == "" {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}
