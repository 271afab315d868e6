package oidc

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Reserved session metadata keys: apigw_session turns "scope" and "roles"
// into the identity's scopes and roles.
const (
	MetaScope = "scope"
	MetaRoles = "roles"
)

// ClaimMapping turns ID token claims into a session's user and metadata,
// so apigw_authorize and rate-limit keys see an OIDC session exactly like
// one from POST /login.
type ClaimMapping struct {
	// UserClaim is the claim that becomes the user id. Default: sub.
	UserClaim string
	// Metadata maps a claim to a metadata key (e.g. email → email).
	Metadata map[string]string
	// ScopeClaim, if set, is the claim whose values become the session's
	// scopes (a space-separated string or an array of strings).
	ScopeClaim string
	// RolesClaim, if set, is the claim whose values become the roles.
	RolesClaim string
}

// Validate reports a mapping mistake, naming the fix.
func (m ClaimMapping) Validate() error {
	for claim, key := range m.Metadata {
		if claim == "" || key == "" {
			return errors.New("claim_metadata needs a claim and a metadata key")
		}
		switch key {
		case MetaScope, MetaRoles, "method":
			return fmt.Errorf("claim_metadata %s %s: %q is reserved: use scope_claim or roles_claim", claim, key, key)
		}
	}
	return nil
}

// maxClaimLen bounds one metadata value taken from a claim.
const maxClaimLen = 1024

// Identity returns the user and the session metadata from claims. A
// missing or empty user claim is an error; a metadata claim that is
// missing, not a string (or list of strings) or too long is left out.
func (m ClaimMapping) Identity(claims map[string]any) (string, map[string]string, error) {
	uc := m.UserClaim
	if uc == "" {
		uc = "sub"
	}
	user, ok := claimString(claims[uc])
	if !ok || user == "" {
		return "", nil, fmt.Errorf("the ID token has no %s claim", uc)
	}
	meta := map[string]string{}
	for claim, key := range m.Metadata {
		if v, ok := claimString(claims[claim]); ok && v != "" && len(v) <= maxClaimLen {
			meta[key] = v
		}
	}
	if m.ScopeClaim != "" {
		if v, ok := claimString(claims[m.ScopeClaim]); ok && v != "" {
			meta[MetaScope] = v
		}
	}
	if m.RolesClaim != "" {
		if v, ok := claimString(claims[m.RolesClaim]); ok && v != "" {
			meta[MetaRoles] = v
		}
	}
	if len(meta) == 0 {
		meta = nil
	}
	return user, meta, nil
}

// claimString renders a string, number, boolean or array of strings
// (space-joined) claim.
func claimString(v any) (string, bool) {
	switch t := v.(type) {
	case string:
		return t, true
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(t), true
	case []any:
		parts := make([]string, 0, len(t))
		for _, e := range t {
			s, ok := e.(string)
			if !ok || strings.ContainsAny(s, " \t\r\n") {
				return "", false
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, " "), true
	}
	return "", false
}
