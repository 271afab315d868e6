package authn

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/apigw/caddy-apigw/store"
)

// jtiPrefix namespaces JWT revocations in the store.
const jtiPrefix = "jti:"

// DefaultRevocationTTL is how long a revocation of a token whose expiry is
// unknown is kept.
const DefaultRevocationTTL = 24 * time.Hour

// RevocationLeeway is added to a revoked token's expiry, so a revocation
// outlives the token even with the verifier's clock leeway.
const RevocationLeeway = 5 * time.Minute

// Revocations records revoked JWT ids (jti) in a store.Store shared by
// every instance; a revocation lasts until the token would have expired.
type Revocations struct {
	s store.Store
}

// NewRevocations returns a Revocations backed by s.
func NewRevocations(s store.Store) *Revocations { return &Revocations{s: s} }

// RevokeJTI revokes the token with id jti until exp (plus RevocationLeeway);
// a zero exp keeps the revocation for DefaultRevocationTTL.
func (r *Revocations) RevokeJTI(ctx context.Context, jti string, exp time.Time) error {
	if jti == "" {
		return errors.New("revoking token: jti is empty")
	}
	ttl := DefaultRevocationTTL
	if !exp.IsZero() {
		ttl = time.Until(exp) + RevocationLeeway
		if ttl < RevocationLeeway {
			ttl = RevocationLeeway
		}
	}
	// the value is the token's expiry (Unix seconds; 0 unknown), for List
	val := []byte("0")
	if !exp.IsZero() {
		val = strconv.AppendInt(val[:0], exp.Unix(), 10)
	}
	if err := r.s.Set(ctx, jtiPrefix+jti, val, ttl); err != nil {
		return fmt.Errorf("revoking token: %w", err)
	}
	return nil
}

// IsRevoked reports whether the token with id jti was revoked. err is set
// only when the store failed (callers fail closed).
func (r *Revocations) IsRevoked(ctx context.Context, jti string) (bool, error) {
	if jti == "" {
		return false, nil
	}
	_, ok, err := storeGet(ctx, r.s, jtiPrefix+jti, "checking token revocation")
	return ok, err
}

// Revocation is one revoked token id, as listed.
type Revocation struct {
	// JTI is the revoked token id.
	JTI string `json:"jti"`
	// Expires is the token's expiry given at revocation (zero: unknown);
	// the revocation is kept until then plus RevocationLeeway.
	Expires time.Time `json:"exp,omitzero"`
}

// List returns every revocation in the store, sorted by jti. It is for
// the admin API, never for a request path.
func (r *Revocations) List(ctx context.Context) ([]Revocation, error) {
	out := []Revocation{} // never nil: listings encode as []
	err := storeEach(ctx, r.s, jtiPrefix, "listing revocations", func(key string, val []byte) error {
		out = append(out, revocationOf(strings.TrimPrefix(key, jtiPrefix), val))
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].JTI < out[j].JTI })
	return out, nil
}

// Get returns the revocation of jti; ok is false if there is none.
func (r *Revocations) Get(ctx context.Context, jti string) (Revocation, bool, error) {
	if jti == "" {
		return Revocation{}, false, nil
	}
	val, ok, err := storeGet(ctx, r.s, jtiPrefix+jti, "reading revocation")
	if !ok {
		return Revocation{}, false, err
	}
	return revocationOf(jti, val), true, nil
}

// revocationOf decodes the stored value of jti's revocation (the token's
// expiry in Unix seconds; 0 unknown).
func revocationOf(jti string, val []byte) Revocation {
	rv := Revocation{JTI: jti}
	if sec, err := strconv.ParseInt(string(val), 10, 64); err == nil && sec > 1 {
		rv.Expires = time.Unix(sec, 0).UTC()
	}
	return rv
}

// Unrevoke undoes the revocation of jti; found is false if there was none.
func (r *Revocations) Unrevoke(ctx context.Context, jti string) (bool, error) {
	if jti == "" {
		return false, nil
	}
	if _, ok, err := storeGet(ctx, r.s, jtiPrefix+jti, "undoing revocation"); !ok {
		return false, err
	}
	if err := r.s.Delete(ctx, jtiPrefix+jti); err != nil {
		return false, fmt.Errorf("undoing revocation: %w", err)
	}
	return true, nil
}
