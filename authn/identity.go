// Package authn holds caddy-apigw's authentication logic without Caddy:
// hashed API keys, JWT verification with JWKS, and the Identity that every
// method produces.
package authn

import (
	"strings"
	"sync/atomic"
)

// Identity is who a request was authenticated as, whatever the method.
// Every auth provider publishes one with the request (the adapter keeps it
// in the request's replacer), so authorization, rate-limit keys and
// upstream headers work the same for API keys, JWTs and sessions.
type Identity struct {
	// ID is the user id; it becomes {http.auth.user.id}.
	ID string
	// Method is "api_key", "jwt" or "session".
	Method string
	// Scopes are the granted OAuth-style scopes (JWT "scope"/"scp",
	// or an API key's / account's configured scopes).
	Scopes []string
	// Roles are the granted roles.
	Roles []string
	// Claims holds the remaining claims (JWT) or metadata (keys, sessions);
	// values are strings, float64s, bools, []any or map[string]any as
	// decoded from JSON.
	Claims map[string]any

	// derived is what a provider derived from the identity (see Derive).
	derived atomic.Pointer[derivedValue]
}

type derivedValue struct{ key, val any }

// Derive returns build's result for key (a comparable value naming what
// is derived, such as a provider's publishing configuration), computing it
// once per identity and key: an identity shared between requests (from
// the verified-token cache, or a configured API key) then gets its
// metadata map and upstream header values built once, not per request.
// The result is shared and must be treated as read-only. One key is
// remembered at a time (an identity belongs to one provider).
func (id *Identity) Derive(key any, build func() any) any {
	if d := id.derived.Load(); d != nil && d.key == key {
		return d.val
	}
	v := build()
	id.derived.Store(&derivedValue{key: key, val: v})
	return v
}

// HasScope reports whether the identity was granted scope s.
func (id *Identity) HasScope(s string) bool {
	for _, x := range id.Scopes {
		if x == s {
			return true
		}
	}
	return false
}

// HasRole reports whether the identity has role r.
func (id *Identity) HasRole(r string) bool {
	for _, x := range id.Roles {
		if x == r {
			return true
		}
	}
	return false
}

// SplitScopes turns a JWT "scope" claim (space-separated string or array
// of strings) into a slice.
func SplitScopes(v any) []string {
	switch t := v.(type) {
	case string:
		// RFC 6749 §3.3: scopes are separated by U+0020 only; tabs,
		// newlines and U+00A0 are not separators (ParseScopes also
		// refuses them)
		parts := strings.Split(t, " ")
		out := parts[:0]
		for _, s := range parts {
			if s != "" {
				out = append(out, s)
			}
		}
		return out
	case []string:
		return t
	case []any:
		out := make([]string, 0, len(t))
		for _, x := range t {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}
