package authn

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// DPoP modes of a provider that accepts access tokens.
const (
	// DPoPOff accepts Bearer tokens only; a token bound to a DPoP key
	// (cnf.jkt) is still refused as a Bearer token.
	DPoPOff = "off"
	// DPoPAllowed accepts Bearer tokens without cnf.jkt, and DPoP-bound
	// tokens with the DPoP scheme and a proof.
	DPoPAllowed = "allowed"
	// DPoPRequired accepts only DPoP-bound tokens with a proof.
	DPoPRequired = "required"
)

// DPoPSettings are a provider's DPoP settings as configured: what both
// its Provision (JSON configs) and its Caddyfile parser check, with Check.
type DPoPSettings struct {
	// Mode is DPoPOff, DPoPAllowed or DPoPRequired.
	Mode string
	// Algorithms is the allow-list of proof algorithms (empty: default).
	Algorithms []string
	// MaxAge, Leeway and NonceLifetime: zero means the default.
	MaxAge, Leeway, NonceLifetime time.Duration
	// UseNonce makes proofs carry a server nonce.
	UseNonce bool
}

// Check reports the first setting that cannot work: a missing or unknown
// mode, a negative duration, a nonce lifetime without nonces, or a proof
// algorithm that is not asymmetric. With the mode off nothing else is
// checked (nothing else is used).
func (s DPoPSettings) Check() error {
	switch s.Mode {
	case DPoPOff:
		return nil
	case DPoPAllowed, DPoPRequired:
	case "":
		return errors.New(`dpop.mode is empty: the dpop_* and use_dpop_nonce options need "dpop required" or "dpop allowed" (or mode off)`)
	default:
		return fmt.Errorf("dpop %q: use required, allowed or off (the mode is unknown)", s.Mode)
	}
	if s.MaxAge < 0 || s.Leeway < 0 || s.NonceLifetime < 0 {
		return errors.New("dpop_max_age, dpop_leeway and dpop_nonce_lifetime must not be negative")
	}
	if !s.UseNonce && s.NonceLifetime != 0 {
		return errors.New("dpop_nonce_lifetime is set but use_dpop_nonce is not")
	}
	return checkDPoPAlgorithms(s.Algorithms)
}

// checkDPoPAlgorithms refuses proof algorithms that are not in
// DPoPSupportedAlgorithms (symmetric ones, "none", unknown names).
func checkDPoPAlgorithms(algs []string) error {
	for _, a := range algs {
		if !slices.Contains(DPoPSupportedAlgorithms, a) {
			return fmt.Errorf("dpop_algorithms: %q is not allowed; proofs use an asymmetric algorithm (%s)", a, strings.Join(DPoPSupportedAlgorithms, " "))
		}
	}
	return nil
}
