package authn

import (
	"context"
	"errors"
	"fmt"

	"github.com/apigw/caddy-apigw/store"
)

// storeGet reads key from s. found is false, with a nil error, when the
// key is not there; err (wrapped with what, e.g. "looking up key") is set
// only when the store failed.
func storeGet(ctx context.Context, s store.Store, key, what string) (val []byte, found bool, err error) {
	val, err = s.Get(ctx, key)
	switch {
	case err == nil:
		return val, true, nil
	case errors.Is(err, store.ErrNotFound):
		return nil, false, nil
	}
	return nil, false, fmt.Errorf("%s: %w", what, err)
}

// storeEach calls each with every key of s under prefix and its value,
// passing over keys that expired or were deleted meanwhile; a store
// failure is wrapped with what. It is for the admin API's listings, never
// for a request path.
func storeEach(ctx context.Context, s store.Store, prefix, what string, each func(key string, val []byte) error) error {
	keys, err := s.Keys(ctx, prefix)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	for _, key := range keys {
		val, ok, err := storeGet(ctx, s, key, what)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if err := each(key, val); err != nil {
			return err
		}
	}
	return nil
}
