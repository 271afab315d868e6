package oidc

import (
	"net/url"
	"strings"
)

// maxReturnTo bounds a return_to value; longer ones are ignored.
const maxReturnTo = 2048

// SafeReturnTo returns raw if it is a same-origin relative path that is
// safe to redirect to after login, else def. Accepted: an absolute path
// ("/app/x?y=1") without a scheme, host or backslash in any spelling.
// Refused (def is used): "//evil", "/\evil", "https://…", "javascript:…",
// percent-encoded variants of these ("/%2F%2Fevil", "/%5Cevil"), control
// characters and whitespace anywhere, relative paths ("app"), dot
// segments, and values over 2 KiB.
func SafeReturnTo(raw, def string) string {
	if raw == "" || len(raw) > maxReturnTo || raw[0] != '/' {
		return def
	}
	// Decode repeatedly so that encoded slashes, backslashes and control
	// characters are judged as a browser or a later hop might read them.
	if !safePathChars(raw) {
		return def
	}
	s := raw
	for i := 0; i < 3; i++ {
		if !safeDecodedChars(s) {
			return def
		}
		if len(s) > 1 && (s[1] == '/' || s[1] == '\\') {
			return def
		}
		for _, seg := range strings.Split(pathOnly(s), "/") {
			if seg == "." || seg == ".." {
				return def
			}
		}
		d, err := url.PathUnescape(s)
		if err != nil {
			return def
		}
		if d == s {
			break
		}
		s = d
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return def
	}
	return raw
}

func pathOnly(s string) string {
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		return s[:i]
	}
	return s
}

// safePathChars rejects control characters, spaces, backslashes and
// non-ASCII bytes (which some parsers fold into '/' or '\').
func safePathChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c == 0x7f || c == '\\' || c >= 0x80 {
			return false
		}
	}
	return true
}

// safeDecodedChars rejects, in a decoded form, what could split a header
// or turn into a slash: control characters and backslashes.
func safeDecodedChars(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c == 0x7f || c == '\\' {
			return false
		}
	}
	return true
}
