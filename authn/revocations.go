package authn

import (
	"context"
	"errors"
	"fmt"
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
	if err := r.s.Set(ctx, jtiPrefix+jti, []byte("1"), ttl); err != nil {
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
	_, err := r.s.Get(ctx, jtiPrefix+jti)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	default:
		return false, fmt.Errorf("checking token revocation: %w", err)
	}
}
