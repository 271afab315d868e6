package httpsig

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"

	"github.com/dunglas/httpsfv"
)

// CheckContentDigest checks a Content-Digest field (RFC 9530) against
// body: every sha-256 and sha-512 member must match, at least one must be
// present, and other algorithms are ignored (RFC 9530 §2: a recipient
// uses the ones it supports).
func CheckContentDigest(lines []string, body []byte) error {
	d, err := httpsfv.UnmarshalDictionary(lines)
	if err != nil {
		return invalid("Content-Digest is not a valid structured field dictionary (RFC 9530)")
	}
	checked := 0
	for _, alg := range d.Names() {
		var sum []byte
		switch alg {
		case "sha-256":
			s := sha256.Sum256(body)
			sum = s[:]
		case "sha-512":
			s := sha512.Sum512(body)
			sum = s[:]
		default:
			continue
		}
		m, _ := d.Get(alg)
		it, ok := m.(httpsfv.Item)
		if !ok {
			return invalid("Content-Digest: the " + alg + " member must be a byte sequence")
		}
		got, ok := it.Value.([]byte)
		if !ok {
			return invalid("Content-Digest: the " + alg + " member must be a byte sequence")
		}
		if subtle.ConstantTimeCompare(got, sum) != 1 {
			return invalid("Content-Digest " + alg + " does not match the request body")
		}
		checked++
	}
	if checked == 0 {
		return invalid("Content-Digest has no sha-256 or sha-512 member")
	}
	return nil
}
