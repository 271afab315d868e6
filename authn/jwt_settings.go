package authn

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// JWTSettings are a JWT provider's settings as configured, before any key
// is read: what both its Provision (JSON configs) and its Caddyfile parser
// check, with Check.
type JWTSettings struct {
	// Secret is the HMAC secret; one that still holds a placeholder
	// ("{env.JWT_SECRET}") has its length checked once it is expanded.
	Secret string
	// KeyFiles are the PEM files of public keys.
	KeyFiles []string
	// JWKSURL is the JWKS URL.
	JWKSURL string
	// Algorithms is the allow-list of JWS algorithms (empty: derived).
	Algorithms []string
	// Leeway is the clock skew tolerated on exp, nbf and iat.
	Leeway time.Duration
	// VerifiedCacheTTL and VerifiedCacheSize configure the verified-token
	// cache.
	VerifiedCacheTTL  time.Duration
	VerifiedCacheSize int
	// JWKSRefreshCooldown and JWKSRefreshInterval pace JWKS refetches.
	JWKSRefreshCooldown, JWKSRefreshInterval time.Duration
}

// errNoVerificationKey is the error of a provider without a key source.
var errNoVerificationKey = errors.New("no verification key (apigw_jwt needs a key: secret, key_file or jwks_url)")

// Check reports the first setting that cannot work: no key source, an
// unknown algorithm or "none", a negative duration or size, or a secret
// too short for an allowed HS algorithm.
func (s JWTSettings) Check() error {
	if s.Secret == "" && len(s.KeyFiles) == 0 && s.JWKSURL == "" {
		return errNoVerificationKey
	}
	if err := checkAlgorithmNames(s.Algorithms); err != nil {
		return err
	}
	switch {
	case s.Leeway < 0:
		return errors.New("leeway must not be negative")
	case s.VerifiedCacheTTL < 0:
		return errors.New("verified_cache_ttl must not be negative (0 disables the cache)")
	case s.VerifiedCacheSize < 0:
		return errors.New("verified_cache_size must not be negative")
	case s.JWKSRefreshCooldown < 0 || s.JWKSRefreshInterval < 0:
		return errors.New("jwks_refresh_cooldown and jwks_refresh_interval must not be negative")
	}
	if s.Secret != "" && !strings.Contains(s.Secret, "{") {
		return checkSecret(len(s.Secret), s.Algorithms)
	}
	return nil
}

// checkAlgorithmNames refuses "none" and algorithms not in
// SupportedAlgorithms.
func checkAlgorithmNames(algs []string) error {
	for _, a := range algs {
		if strings.EqualFold(a, "none") {
			return errors.New(`algorithm "none" is never allowed`)
		}
		if !slices.Contains(SupportedAlgorithms, a) {
			return fmt.Errorf("unknown algorithm %q (supported: %s)", a, strings.Join(SupportedAlgorithms, " "))
		}
	}
	return nil
}

// checkSecret checks an HMAC secret of n bytes: at least MinSecretLen,
// and long enough for every allowed HS algorithm (CheckHMACSecret).
func checkSecret(n int, algs []string) error {
	if n < MinSecretLen {
		return fmt.Errorf("secret is %d bytes; HMAC secrets must be at least %d bytes (e.g. openssl rand -base64 48), and belong in an environment variable ({env.JWT_SECRET}), not the config", n, MinSecretLen)
	}
	return CheckHMACSecret(n, algs)
}
