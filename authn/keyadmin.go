package authn

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"regexp"
	"time"
)

// Runtime key management as the admin API offers it: the rules of key
// ids, merge patches of a key, paging cursors of the key listing and the
// JSON shapes of keys and revocations in its answers.

// Bounds of a key listing's page size.
const (
	DefaultKeyPage = 100
	MaxKeyPage     = 1000
)

// MaxRotateGrace bounds the grace period of a rotation.
const MaxRotateGrace = 30 * 24 * time.Hour

// keyIDRE is the form of an id chosen at creation: it appears in URLs,
// logs and metric-free audit entries.
var keyIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// ValidKeyID reports whether id may name a new runtime key: 1-128
// letters, digits, '.', '_' or '-', starting with a letter or digit.
func ValidKeyID(id string) bool { return keyIDRE.MatchString(id) }

// KeyPatch is a checked JSON merge patch (RFC 7396) of a runtime key.
type KeyPatch struct {
	// Scopes, Roles and AllowCIDRs (canonical), when set, replace the
	// key's lists whole; an empty list clears one.
	Scopes, Roles, AllowCIDRs *[]string
	// Metadata is merged member by member; a nil value removes one.
	Metadata map[string]*string
	// ClearMetadata removes all metadata (before Metadata is merged).
	ClearMetadata bool
	// ClearExpires makes the key never expire; else a non-zero Expires
	// is its new expiry.
	ClearExpires bool
	Expires      time.Time
}

// Apply changes k as p says.
func (p *KeyPatch) Apply(k *KeyRecord) {
	if p.Scopes != nil {
		k.Scopes = nilIfEmpty(*p.Scopes)
	}
	if p.Roles != nil {
		k.Roles = nilIfEmpty(*p.Roles)
	}
	if p.AllowCIDRs != nil {
		k.AllowCIDRs = nilIfEmpty(*p.AllowCIDRs)
	}
	if p.ClearMetadata {
		k.Metadata = nil
	}
	for mk, mv := range p.Metadata {
		if mv == nil {
			delete(k.Metadata, mk)
			continue
		}
		if k.Metadata == nil {
			k.Metadata = map[string]string{}
		}
		k.Metadata[mk] = *mv
	}
	if len(k.Metadata) == 0 {
		k.Metadata = nil
	}
	switch {
	case p.ClearExpires:
		k.Expires = time.Time{}
	case !p.Expires.IsZero():
		k.Expires = p.Expires
	}
}

// Patch applies p to runtime key id; ifMatch, when not "", must match
// its current ETag (ErrKeyChanged otherwise). See Update for the errors.
func (k *KeyStore) Patch(ctx context.Context, id, ifMatch string, p *KeyPatch) (KeyRecord, error) {
	return k.Update(ctx, id, ifMatch, func(rec *KeyRecord) error {
		p.Apply(rec)
		return nil
	})
}

// PageAfter is Page with an opaque cursor: after is "" or the next
// cursor of a previous page, and next is "" on the last page.
func (k *KeyStore) PageAfter(ctx context.Context, user, after string, size int) (page []KeyRecord, next string, err error) {
	page, more, err := k.Page(ctx, user, after, size)
	if err != nil || !more {
		return page, "", err
	}
	return page, base64.RawURLEncoding.EncodeToString([]byte(page[len(page)-1].ID)), nil
}

// KeyCursorID returns the key id a listing cursor stands for.
func KeyCursorID(cursor string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	return string(b), err
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// KeyListing is a key as the admin API shows it: never the key or its
// hash; lists and metadata are [] and {} rather than absent, and created
// and expires are null when unset.
type KeyListing KeyRecord

// MarshalJSON writes the admin API's shape of the key.
func (k KeyListing) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		ID         string            `json:"id"`
		User       string            `json:"user"`
		Scopes     []string          `json:"scopes"`
		Roles      []string          `json:"roles"`
		Metadata   map[string]string `json:"metadata"`
		AllowCIDRs []string          `json:"allow_cidr"`
		Created    *time.Time        `json:"created"`
		Expires    *time.Time        `json:"expires"`
		Source     string            `json:"source"`
		Revoked    bool              `json:"revoked"`
	}{k.ID, k.User, orEmpty(k.Scopes), orEmpty(k.Roles), orEmptyMap(k.Metadata), orEmpty(k.AllowCIDRs),
		timeOrNil(k.Created), timeOrNil(k.Expires), k.Source, k.Revoked})
}

// RevocationListing is a revocation as the admin API shows it: exp is
// null when unknown.
type RevocationListing Revocation

// MarshalJSON writes the admin API's shape of the revocation.
func (r RevocationListing) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		JTI string     `json:"jti"`
		Exp *time.Time `json:"exp"`
	}{r.JTI, timeOrNil(r.Expires)})
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func orEmptyMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
