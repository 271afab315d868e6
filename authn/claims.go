package authn

import (
	"math"
	"strings"

	"github.com/apigw/caddy-apigw/failure"
)

// maxNumericDate is 9999-12-31T23:59:59Z: a NumericDate beyond it (or
// not finite) is refused instead of overflowing time.Time arithmetic.
const maxNumericDate = 253402300799

// CheckRegisteredClaims returns a failure.ErrInvalidToken when a registered claim
// (RFC 7519 §4.1) or a scope claim has the wrong JSON type, so that no
// check keyed on it can be skipped silently. golang-jwt v5 reads iss and
// sub only when an expected value is configured, accepts an aud of any
// non-string type as absent, treats "exp": 0 as no exp, and never reads
// jti: a revocation check on a numeric jti ("jti": 4242) would find
// nothing. The rules:
//
//   - iss, sub, jti: a string;
//   - aud: a string or an array of strings;
//   - exp, nbf, iat: a finite number in [0, 253402300799]; exp 0 is an
//     expired token, not a missing exp;
//   - scope, scp, roles: see ParseScopes.
func CheckRegisteredClaims(claims map[string]any) error {
	for _, name := range []string{"iss", "sub", "jti"} {
		if v, ok := claims[name]; ok {
			if _, isStr := v.(string); !isStr {
				return wrongType(name, "a string")
			}
		}
	}
	if v, ok := claims["aud"]; ok {
		switch a := v.(type) {
		case string:
		case []any:
			for _, x := range a {
				if _, isStr := x.(string); !isStr {
					return wrongType("aud", "a string or an array of strings")
				}
			}
		case []string:
		default:
			return wrongType("aud", "a string or an array of strings")
		}
	}
	for _, name := range []string{"exp", "nbf", "iat"} {
		v, ok := claims[name]
		if !ok {
			continue
		}
		f, isNum := v.(float64)
		if !isNum || math.IsNaN(f) || f < 0 || f > maxNumericDate {
			return wrongType(name, "a number of seconds since 1970 (RFC 7519 NumericDate)")
		}
		if name == "exp" && f == 0 {
			return failure.New(failure.ErrTokenExpired, "token has expired")
		}
	}
	for _, name := range []string{"scope", "scp", "roles"} {
		if v, ok := claims[name]; ok {
			if err := checkScopes(name, v); err != nil {
				return err
			}
		}
	}
	return nil
}

func wrongType(name, want string) error {
	return failure.New(failure.ErrInvalidToken, "token claim "+name+" must be "+want)
}

// ParseScopes reads a scope claim (scope, scp, roles) named name: a
// string of scope tokens separated by U+0020 SPACE only (RFC 6749 §3.3:
// tabs, newlines and U+00A0 are not separators), or an array of strings,
// each one scope token. Empty tokens from repeated, leading or trailing
// spaces are ignored. Every token must consist of RFC 6749's scope-token
// characters (%x21 / %x23-5B / %x5D-7E: visible ASCII except '"' and
// '\'); any other character makes the whole token invalid (401
// invalid_token) rather than silently dropping or splitting the scope, so
// "read\u00a0admin" never grants admin and never becomes a scope that
// some other component splits differently.
func ParseScopes(name string, v any) ([]string, error) {
	if err := checkScopes(name, v); err != nil {
		return nil, err
	}
	return SplitScopes(v), nil
}

// checkScopes applies ParseScopes' rules without building the list.
func checkScopes(name string, v any) error {
	bad := func() error {
		return failure.New(failure.ErrInvalidToken,
			"token claim "+name+" must hold RFC 6749 scope tokens (visible ASCII except \" and \\) separated by single spaces")
	}
	token := func(s string) bool { return s != "" && validScopeString(s) && strings.IndexByte(s, ' ') < 0 }
	switch t := v.(type) {
	case string:
		if !validScopeString(t) {
			return bad()
		}
		return nil
	case []any:
		for _, x := range t {
			if s, ok := x.(string); !ok || !token(s) {
				return bad()
			}
		}
		return nil
	case []string:
		for _, s := range t {
			if !token(s) {
				return bad()
			}
		}
		return nil
	}
	return failure.New(failure.ErrInvalidToken, "token claim "+name+" must be a space-separated string or an array of strings")
}

// validScopeString reports whether s holds only scope-token characters
// and U+0020.
func validScopeString(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' {
			continue
		}
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
