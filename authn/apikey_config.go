package authn

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// APIKeyConfig is one configured API key, as written in the JSON config
// (the apigw_api_key provider's "keys") and by the Caddyfile parser.
type APIKeyConfig struct {
	// Hash is the lowercase hex SHA-256 digest of the key
	// (`printf %s "$KEY" | sha256sum`). The key itself is never configured.
	Hash string `json:"hash"`
	// User is the identity the key authenticates as.
	User string `json:"user"`
	// ID names the key in logs, listings and revocations (default: the
	// user; ids must be unique within a provider).
	ID string `json:"id,omitempty"`
	// Scopes granted to the key.
	Scopes []string `json:"scopes,omitempty"`
	// Roles granted to the key.
	Roles []string `json:"roles,omitempty"`
	// Metadata is published with the identity ({http.auth.user.<name>}).
	Metadata map[string]string `json:"metadata,omitempty"`
	// AllowCIDRs, if set, limits the client addresses (as determined by
	// Caddy, honouring trusted_proxies) that may use the key.
	AllowCIDRs []string `json:"allow_cidrs,omitempty"`
	// Expires is an RFC 3339 time after which the key stops working.
	Expires string `json:"expires,omitempty"`
}

// ConfigKey checks k and converts it: the one check of a configured key,
// used at provision and by the Caddyfile parser.
func (k APIKeyConfig) ConfigKey() (ConfigKey, error) {
	var ck ConfigKey
	h, err := ParseKeyHash(k.Hash)
	if err != nil {
		return ck, err
	}
	if k.User == "" {
		return ck, errors.New("key has no user")
	}
	ck.Hash = h
	ck.Record = KeyRecord{
		ID: k.ID, User: k.User, Scopes: k.Scopes, Roles: k.Roles,
		Metadata: k.Metadata, Source: SourceConfig,
	}
	if ck.Record.ID == "" {
		ck.Record.ID = k.User
	}
	for _, c := range k.AllowCIDRs {
		p, err := ParseAllowCIDR(c)
		if err != nil {
			return ck, fmt.Errorf("key %q: %w", ck.Record.ID, err)
		}
		ck.AllowCIDRs = append(ck.AllowCIDRs, p)
		ck.Record.AllowCIDRs = append(ck.Record.AllowCIDRs, p.String())
	}
	if k.Expires != "" {
		t, err := time.Parse(time.RFC3339, k.Expires)
		if err != nil {
			return ck, fmt.Errorf("key %q: expires must be RFC 3339 (2026-12-31T23:59:59Z): %w", ck.Record.ID, err)
		}
		ck.Record.Expires = t
	}
	return ck, nil
}

// ParseAllowCIDR reads an allowed client network of a key: a CIDR or a
// single address (a /32 or /128).
func ParseAllowCIDR(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, fmt.Errorf("allow_cidr %q is not a CIDR: %w", s, err)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("allow_cidr %q is not a CIDR or IP: %w", s, err)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}
