package httpsig

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/apigw/caddy-apigw/authn"
)

// DefaultMaxBody caps the body read for Content-Digest.
const DefaultMaxBody = 1 << 20

// KeyConfig is one configured client key: where its key material comes
// from and the identity it authenticates as.
type KeyConfig struct {
	// ID is the key id the client sends as keyid.
	ID string `json:"id"`
	// Algorithm is ed25519, ecdsa-p256-sha256, rsa-pss-sha512 or
	// hmac-sha256. Default: the one the key type implies (hmac-sha256 for
	// a secret). For a key from a JWKS, it pins that key's algorithm.
	Algorithm string `json:"algorithm,omitempty"`
	// PublicKeyFile is a PEM file holding the public key (SPKI "PUBLIC
	// KEY", or "RSA PUBLIC KEY").
	PublicKeyFile string `json:"public_key_file,omitempty"`
	// PublicKey is the public key inline: PEM text, or the base64 of the
	// DER SPKI (the body of a PEM "PUBLIC KEY" block).
	PublicKey string `json:"public_key,omitempty"`
	// JWK is the public key as a JSON Web Key.
	JWK string `json:"jwk,omitempty"`
	// Secret is an hmac-sha256 shared secret of at least 32 bytes;
	// placeholders ({env.X}, {file./run/secrets/x}) are expanded.
	Secret string `json:"secret,omitempty"`
	// User is the identity the key authenticates as. Default: the key id.
	User string `json:"user,omitempty"`
	// Scopes granted to the key.
	Scopes []string `json:"scopes,omitempty"`
	// Roles granted to the key.
	Roles []string `json:"roles,omitempty"`
	// Metadata is published with the identity ({http.auth.user.<name>}).
	Metadata map[string]string `json:"metadata,omitempty"`
}

// Settings are the options of an Authenticator: apigw_http_signature's
// JSON fields (placeholders in file names, URLs and secrets are expanded
// by the adapter before NewAuthenticator).
type Settings struct {
	// Keys are the clients' keys, by key id.
	Keys []KeyConfig `json:"keys,omitempty"`
	// JWKSFile is a JSON Web Key Set file of public keys (EdDSA/Ed25519,
	// ES256, PS512); each key's kid is its key id. Read at provision.
	JWKSFile string `json:"jwks_file,omitempty"`
	// JWKSURL is a JSON Web Key Set URL (https only, see
	// JWKSAllowInsecureLoopback); refreshed in the background, and at once
	// (at most once per 30s) when an unknown key id arrives.
	JWKSURL string `json:"jwks_url,omitempty"`
	// JWKSAllowInsecureLoopback permits a plain-http JWKS URL whose host is
	// a loopback address. Default: false.
	JWKSAllowInsecureLoopback bool `json:"jwks_allow_insecure_loopback,omitempty"`
	// Label is the signature label to verify, e.g. "sig1"; signatures
	// under other labels are ignored. Default: empty, which accepts any
	// label but only when the request carries exactly one signature.
	Label string `json:"label,omitempty"`
	// RequiredComponents must be covered by every signature. Default:
	// ["@method", "@authority", "@path"]; [] requires none.
	RequiredComponents []string `json:"required_components,omitzero"`
	// RequiredWithQuery must be covered when the request has a query.
	// Default: ["@query"]; [] requires none.
	RequiredWithQuery []string `json:"required_with_query,omitzero"`
	// RequiredWithBody must be covered when the request has a body.
	// Default: ["content-digest"]; [] requires none.
	RequiredWithBody []string `json:"required_with_body,omitzero"`
	// Tolerance is the accepted difference between created and the
	// gateway's clock, both ways; 0 means DefaultTolerance (300s). In
	// JSON it is the adapter's (a Caddy duration).
	Tolerance time.Duration `json:"-"`
	// RequireNonce refuses signatures without a nonce. Default: false
	// (without a nonce, each signed message is accepted once).
	RequireNonce bool `json:"require_nonce,omitempty"`
	// AllowRepeatWithoutNonce lets a signed request without a nonce be
	// sent again until created ± tolerance (or expires) has passed; nonces
	// stay single use. Default: false (each signed request without a
	// nonce is accepted once).
	AllowRepeatWithoutNonce bool `json:"allow_repeat_without_nonce,omitempty"`
	// MaxBody caps the body read for Content-Digest, in bytes; a larger
	// body is 413. Default: 1 MiB.
	MaxBody int64 `json:"max_body,omitempty"`
	// MaxHeaderSize caps each of Signature-Input and Signature, in bytes.
	// Default: 8 KiB.
	MaxHeaderSize int `json:"max_header_size,omitempty"`
}

// Check reports the first setting that cannot work, without reading any
// file or URL. Values holding a placeholder ("{") are checked once
// expanded. It is the one check of the settings: the Caddyfile parser
// and provisioning both call it.
func (s *Settings) Check() error {
	if s.Tolerance < 0 || s.MaxBody < 0 || s.MaxHeaderSize < 0 {
		return errors.New("tolerance, max_body and max_header_size must not be negative")
	}
	if s.Label != "" && !validLabel(s.Label) {
		return fmt.Errorf("label %q is not a structured field key (lowercase letters, digits, _ - . *, starting with a letter), e.g. sig1", s.Label)
	}
	for i, list := range [][]string{s.RequiredComponents, s.RequiredWithQuery, s.RequiredWithBody} {
		for _, c := range list {
			if err := CheckComponentName(c); err != nil {
				return fmt.Errorf("%s: %w", [...]string{"required_components", "required_with_query", "required_with_body"}[i], err)
			}
		}
	}
	// loopback plain http is judged with jwks_allow_insecure_loopback
	// when the key set is loaded
	if s.JWKSURL != "" && !strings.Contains(s.JWKSURL, "{") {
		if err := authn.CheckJWKSURL(s.JWKSURL, true); err != nil {
			return err
		}
	}
	seen := make(map[string]bool, len(s.Keys))
	for i := range s.Keys {
		if err := s.checkKey(&s.Keys[i], seen); err != nil {
			return err
		}
	}
	if len(s.Keys) == 0 && s.JWKSFile == "" && s.JWKSURL == "" {
		return errors.New("no keys: add `key <id> { public_key_file <pem> }`, jwks_file or jwks_url")
	}
	return nil
}

func (s *Settings) checkKey(c *KeyConfig, seen map[string]bool) error {
	if c.ID == "" {
		return errors.New("a key has no id")
	}
	if seen[c.ID] {
		return fmt.Errorf("key id %q is configured twice", c.ID)
	}
	seen[c.ID] = true
	if c.Algorithm != "" && !knownAlg(c.Algorithm) {
		return fmt.Errorf("key %q: unknown algorithm %q (known: %s)", c.ID, c.Algorithm, strings.Join(Algorithms, ", "))
	}
	sources := 0
	for _, v := range []string{c.PublicKeyFile, c.PublicKey, c.JWK, c.Secret} {
		if v != "" {
			sources++
		}
	}
	switch {
	case sources > 1:
		return fmt.Errorf("key %q: give one of public_key_file, public_key, jwk, secret", c.ID)
	case sources == 0 && s.JWKSURL == "" && s.JWKSFile == "":
		return fmt.Errorf("key %q has no key material: add public_key_file, public_key, jwk or secret (or a jwks_file/jwks_url holding it)", c.ID)
	case c.Secret == "":
		return nil
	case c.Algorithm != "" && c.Algorithm != AlgHMACSHA256:
		return fmt.Errorf("key %q: a secret is for hmac-sha256, not %s", c.ID, c.Algorithm)
	case !strings.Contains(c.Secret, "{") && len(c.Secret) < MinHMACSecret:
		return fmt.Errorf("key %q: secret is %d bytes long: use at least %d random bytes (e.g. `openssl rand -hex 32`), from {env.X}", c.ID, len(c.Secret), MinHMACSecret)
	}
	return nil
}

// validLabel reports whether s is an RFC 8941 dictionary key.
func validLabel(s string) bool {
	if s == "" || !(s[0] >= 'a' && s[0] <= 'z' || s[0] == '*') {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("_-.*", c) >= 0) {
			return false
		}
	}
	return true
}

func knownAlg(s string) bool {
	for _, a := range Algorithms {
		if a == s {
			return true
		}
	}
	return false
}
