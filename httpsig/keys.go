package httpsig

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"

	"github.com/apigw/caddy-apigw/authn"
)

// The signature algorithms of RFC 9421 §3.3 that the gateway verifies.
const (
	AlgEd25519    = "ed25519"
	AlgECDSAP256  = "ecdsa-p256-sha256"
	AlgRSAPSS512  = "rsa-pss-sha512"
	AlgHMACSHA256 = "hmac-sha256"
)

// MinHMACSecret is the least length of an hmac-sha256 secret (the output
// size of SHA-256).
const MinHMACSecret = 32

// Algorithms lists the supported algorithm names.
var Algorithms = []string{AlgEd25519, AlgECDSAP256, AlgRSAPSS512, AlgHMACSHA256}

// Key is one verification key. Its algorithm is fixed: a signature's alg
// parameter, when present, must name it, so a message can never pick a
// weaker algorithm for a key.
type Key struct {
	// ID is the key id the signer names in keyid.
	ID string
	// Alg is one of the Alg* constants.
	Alg string

	ed     ed25519.PublicKey
	ec     *ecdsa.PublicKey
	rsa    *rsa.PublicKey
	secret []byte
}

// NewPublicKey returns a key for pub (ed25519.PublicKey, *ecdsa.PublicKey
// on P-256, or *rsa.PublicKey of at least 2048 bits). alg may be empty,
// in which case it follows from the key type.
func NewPublicKey(id, alg string, pub crypto.PublicKey) (*Key, error) {
	k := &Key{ID: id}
	var want string
	switch p := pub.(type) {
	case ed25519.PublicKey:
		k.ed, want = p, AlgEd25519
	case *ecdsa.PublicKey:
		if p.Curve != elliptic.P256() {
			return nil, fmt.Errorf("key %q: ECDSA keys must be on P-256 (ecdsa-p256-sha256)", id)
		}
		k.ec, want = p, AlgECDSAP256
	case *rsa.PublicKey:
		if p.Size()*8 < authn.MinRSABits {
			return nil, fmt.Errorf("key %q: RSA key shorter than %d bits", id, authn.MinRSABits)
		}
		k.rsa, want = p, AlgRSAPSS512
	default:
		return nil, fmt.Errorf("key %q: unsupported public key type %T (want Ed25519, ECDSA P-256 or RSA)", id, pub)
	}
	if alg != "" && alg != want {
		return nil, fmt.Errorf("key %q: algorithm %q does not fit the key, which is for %s", id, alg, want)
	}
	k.Alg = want
	return k, nil
}

// NewHMACKey returns an hmac-sha256 key; the secret must be at least
// MinHMACSecret bytes.
func NewHMACKey(id string, secret []byte) (*Key, error) {
	if len(secret) < MinHMACSecret {
		return nil, fmt.Errorf("key %q: hmac-sha256 secret is %d bytes: use at least %d random bytes", id, len(secret), MinHMACSecret)
	}
	return &Key{ID: id, Alg: AlgHMACSHA256, secret: secret}, nil
}

// ParsePublicKeyPEM parses a PEM "PUBLIC KEY" (SPKI) or "RSA PUBLIC
// KEY" block. Private keys are refused: the gateway needs, and should
// hold, only the public half.
func ParsePublicKeyPEM(id, alg string, data []byte) (*Key, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("key %q: no PEM block found", id)
	}
	var pub crypto.PublicKey
	var err error
	switch block.Type {
	case "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
	default:
		return nil, fmt.Errorf("key %q: PEM block %q is not a public key (give the gateway the public key only)", id, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("key %q: %w", id, err)
	}
	return NewPublicKey(id, alg, pub)
}

// jwkAlgs maps JOSE algorithm names to RFC 9421 ones.
var jwkAlgs = map[string]string{
	"EdDSA": AlgEd25519, "Ed25519": AlgEd25519, "ES256": AlgECDSAP256, "PS512": AlgRSAPSS512,
	AlgEd25519: AlgEd25519, AlgECDSAP256: AlgECDSAP256, AlgRSAPSS512: AlgRSAPSS512,
}

// FromJWK converts a parsed public JWK. A JWK whose "alg" names an
// algorithm this verifier does not offer for its key is refused.
func FromJWK(j authn.JWK, id, alg string) (*Key, error) {
	if j.Key == nil {
		return nil, fmt.Errorf("key %q: the JWK is not a usable signature key", id)
	}
	if j.Alg != "" {
		a, ok := jwkAlgs[j.Alg]
		if !ok {
			return nil, fmt.Errorf("key %q: JWK alg %q is not one of EdDSA, ES256, PS512", id, j.Alg)
		}
		if alg != "" && alg != a {
			return nil, fmt.Errorf("key %q: algorithm %q contradicts the JWK's alg %q", id, alg, j.Alg)
		}
		alg = a
	}
	return NewPublicKey(id, alg, j.Key)
}

var errBadSignature = errors.New("signature mismatch")

// verify checks sig over base with k.
func (k *Key) verify(base, sig []byte) error {
	switch k.Alg {
	case AlgEd25519:
		if len(sig) != ed25519.SignatureSize || !ed25519.Verify(k.ed, base, sig) {
			return errBadSignature
		}
	case AlgECDSAP256:
		// RFC 9421 §3.3.4: r and s, each 32 bytes, concatenated
		if len(sig) != 64 {
			return errBadSignature
		}
		h := sha256.Sum256(base)
		r := new(big.Int).SetBytes(sig[:32])
		s := new(big.Int).SetBytes(sig[32:])
		if !ecdsa.Verify(k.ec, h[:], r, s) {
			return errBadSignature
		}
	case AlgRSAPSS512:
		h := sha512.Sum512(base)
		// RFC 9421 §3.3.1 signs with a 64-byte salt; the salt length is
		// read from the signature (PSS is secure with any length), since
		// Node's crypto, under the npm http-message-signatures package,
		// signs with the longest salt (TestNPMInterop)
		if rsa.VerifyPSS(k.rsa, crypto.SHA512, h[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto, Hash: crypto.SHA512}) != nil {
			return errBadSignature
		}
	case AlgHMACSHA256:
		m := hmac.New(sha256.New, k.secret)
		m.Write(base)
		var sum [sha256.Size]byte
		if !hmac.Equal(m.Sum(sum[:0]), sig) {
			return errBadSignature
		}
	default:
		return errBadSignature
	}
	return nil
}

// Sign signs base with priv for tests and tools (ed25519.PrivateKey,
// *ecdsa.PrivateKey, *rsa.PrivateKey, or an HMAC secret as []byte).
func Sign(alg string, priv any, base []byte) ([]byte, error) {
	switch alg {
	case AlgEd25519:
		p, ok := priv.(ed25519.PrivateKey)
		if !ok {
			return nil, errors.New("ed25519 needs an ed25519.PrivateKey")
		}
		return ed25519.Sign(p, base), nil
	case AlgECDSAP256:
		p, ok := priv.(*ecdsa.PrivateKey)
		if !ok {
			return nil, errors.New("ecdsa-p256-sha256 needs an *ecdsa.PrivateKey")
		}
		h := sha256.Sum256(base)
		r, s, err := ecdsa.Sign(rand.Reader, p, h[:])
		if err != nil {
			return nil, err
		}
		out := make([]byte, 64)
		r.FillBytes(out[:32])
		s.FillBytes(out[32:])
		return out, nil
	case AlgRSAPSS512:
		p, ok := priv.(*rsa.PrivateKey)
		if !ok {
			return nil, errors.New("rsa-pss-sha512 needs an *rsa.PrivateKey")
		}
		h := sha512.Sum512(base)
		return rsa.SignPSS(rand.Reader, p, crypto.SHA512, h[:], &rsa.PSSOptions{SaltLength: 64})
	case AlgHMACSHA256:
		p, ok := priv.([]byte)
		if !ok {
			return nil, errors.New("hmac-sha256 needs a []byte secret")
		}
		m := hmac.New(sha256.New, p)
		m.Write(base)
		return m.Sum(nil), nil
	}
	return nil, fmt.Errorf("unknown algorithm %q", alg)
}
