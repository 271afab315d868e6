package sessions

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"

	"github.com/apigw/caddy-apigw/authn"
)

// TokenLen is the length of a session token: 32 random bytes, base64url
// without padding.
const TokenLen = 43

// NewToken returns a fresh 256-bit token from crypto/rand.
func NewToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("sessions: reading random token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// WellFormed reports whether token has the shape of a session token, so
// garbage cookies are refused without a store round trip.
func WellFormed(token string) bool {
	if len(token) != TokenLen {
		return false
	}
	for i := 0; i < len(token); i++ {
		c := token[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Handle returns the handle (Info.ID) of token.
func Handle(token string) string {
	var h [32 + 5]byte
	return string(appendHandleKey(h[:0], "", token))
}

// appendHandleKey appends prefix + handle(token) to dst.
func appendHandleKey(dst []byte, prefix, token string) []byte {
	sum := authn.SHA256String(token)
	dst = append(dst, prefix...)
	return hex.AppendEncode(dst, sum[:16])
}

// ValidHandle reports whether id has the shape of a handle.
func ValidHandle(id string) bool {
	if len(id) != 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
