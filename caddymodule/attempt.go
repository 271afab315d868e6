package caddymodule

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
)

// attemptKey keys attemptHash. It is random per process, so a logged hash
// cannot be reversed with a dictionary by someone who only has the logs.
var attemptKey = func() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k) // crypto/rand.Read never fails (Go 1.24+)
	return k
}()

// attemptHash returns a short keyed hash (HMAC-SHA256, 12 hex digits) of
// a username that is not an account, for the audit log: repeated tries of
// the same name show the same hash while the process runs, and the name
// itself (often a password typed into the wrong field) is never written.
func attemptHash(name string) string {
	m := hmac.New(sha256.New, attemptKey)
	m.Write([]byte(name))
	return hex.EncodeToString(m.Sum(nil)[:6])
}
