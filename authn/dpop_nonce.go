package authn

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/apigw/caddy-apigw/store"
)

// DefaultDPoPNonceLifetime is how long a server nonce is handed out; a
// nonce stays valid for one more lifetime after that.
const DefaultDPoPNonceLifetime = 5 * time.Minute

const dpopNoncePrefix = "dpop:nonce:"

// DPoPNonces issues and checks RFC 9449 §8 server nonces. Time is cut into
// windows of one lifetime; each window has one random nonce, created by
// the first instance that needs it and shared through the store (SetNX),
// so every instance hands out and accepts the same values. A nonce is
// accepted during its window and the next one. The store holds two keys
// at a time, whatever the traffic: a flood of requests cannot grow it.
type DPoPNonces struct {
	s        store.Store
	lifetime time.Duration
	now      func() time.Time

	mu     sync.Mutex
	cached map[int64]string // window → nonce; at most the last few windows
}

// NewDPoPNonces returns nonces shared through s; lifetime zero means
// DefaultDPoPNonceLifetime; now nil means time.Now.
func NewDPoPNonces(s store.Store, lifetime time.Duration, now func() time.Time) (*DPoPNonces, error) {
	if s == nil {
		return nil, errors.New("dpop nonces need a store")
	}
	if lifetime < 0 {
		return nil, errors.New("dpop nonce lifetime must not be negative")
	}
	if lifetime == 0 {
		lifetime = DefaultDPoPNonceLifetime
	}
	if lifetime < time.Second {
		return nil, errors.New("dpop nonce lifetime must be at least 1s")
	}
	if now == nil {
		now = time.Now
	}
	return &DPoPNonces{s: s, lifetime: lifetime, now: now, cached: map[int64]string{}}, nil
}

func (n *DPoPNonces) window() int64 { return n.now().UnixNano() / int64(n.lifetime) }

// Current returns the nonce to hand out now (DPoP-Nonce header).
func (n *DPoPNonces) Current(ctx context.Context) (string, error) {
	return n.nonce(ctx, n.window(), true)
}

// Valid reports whether nonce is the current or the previous window's.
func (n *DPoPNonces) Valid(ctx context.Context, nonce string) (bool, error) {
	w := n.window()
	for _, win := range []int64{w, w - 1} {
		cur, err := n.nonce(ctx, win, win == w)
		if err != nil {
			return false, err
		}
		if cur != "" && subtle.ConstantTimeCompare([]byte(cur), []byte(nonce)) == 1 {
			return true, nil
		}
	}
	return false, nil
}

// nonce returns window w's nonce, creating it when create is set; "" when
// it does not exist and create is not set.
func (n *DPoPNonces) nonce(ctx context.Context, w int64, create bool) (string, error) {
	n.mu.Lock()
	v, ok := n.cached[w]
	n.mu.Unlock()
	if ok {
		return v, nil
	}
	key := dpopNoncePrefix + strconv.FormatInt(int64(n.lifetime/time.Second), 10) + ":" + strconv.FormatInt(w, 10)
	if create {
		var b [24]byte
		_, _ = rand.Read(b[:])
		cand := base64.RawURLEncoding.EncodeToString(b[:])
		set, err := n.s.SetNX(ctx, key, []byte(cand), 2*n.lifetime+time.Minute)
		if err != nil {
			return "", fmt.Errorf("dpop nonce: %w", err)
		}
		if set {
			n.remember(w, cand)
			return cand, nil
		}
	}
	got, err := n.s.Get(ctx, key)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("dpop nonce: %w", err)
	}
	n.remember(w, string(got))
	return string(got), nil
}

func (n *DPoPNonces) remember(w int64, v string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for k := range n.cached {
		if k < w-1 {
			delete(n.cached, k)
		}
	}
	n.cached[w] = v
}
