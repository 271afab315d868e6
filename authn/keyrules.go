package authn

import (
	"crypto/rsa"
	"fmt"
)

// HMACMinLen returns the shortest secret RFC 7518 §3.2 allows for an HS
// algorithm: as long as the hash output (HS256 32, HS384 48, HS512 64
// bytes); 0 for other algorithms.
func HMACMinLen(alg string) int {
	switch alg {
	case "HS256":
		return 32
	case "HS384":
		return 48
	case "HS512":
		return 64
	}
	return 0
}

// CheckHMACSecret checks a secret of n bytes against every allowed
// algorithm: with several HS algorithms allowed, the largest minimum
// applies (a secret too short for HS512 weakens every HS512 token even if
// HS256 tokens are fine).
func CheckHMACSecret(n int, algs []string) error {
	need, needAlg := MinSecretLen, "HS256"
	for _, a := range algs {
		if m := HMACMinLen(a); m > need {
			need, needAlg = m, a
		}
	}
	if n < need {
		return fmt.Errorf("secret is %d bytes but %s needs at least %d (RFC 7518 §3.2: as long as the hash output): use a longer secret (e.g. openssl rand -base64 %d) or allow only the algorithms it is long enough for", n, needAlg, need, need)
	}
	return nil
}

// CheckPublicKey refuses RSA keys that must never verify a signature: a
// modulus under MinRSABits, or a public exponent that is even or below 3
// (with e = 1 "signatures" are forgeable by anyone; JWKS keys get the same
// rule). Other key types pass (the parsers already refuse points off the
// curve).
func CheckPublicKey(k any) error {
	rk, ok := k.(*rsa.PublicKey)
	if !ok {
		return nil
	}
	if rk.N == nil || rk.Size()*8 < MinRSABits {
		bits := 0
		if rk.N != nil {
			bits = rk.N.BitLen()
		}
		return fmt.Errorf("RSA key of %d bits is too short: use at least %d bits (openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:%d)", bits, MinRSABits, MinRSABits)
	}
	if rk.E < 3 || rk.E%2 == 0 {
		return fmt.Errorf("RSA public exponent %d is unsafe: use a key with exponent 65537 (openssl's default)", rk.E)
	}
	return nil
}
