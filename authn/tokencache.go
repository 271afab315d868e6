package authn

import (
	"crypto/sha256"
	"encoding/binary"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/apigw/caddy-apigw/internal/shardmap"
)

// Verified-token cache defaults.
const (
	// DefaultVerifiedCacheTTL is how long a verified token is remembered
	// at most (never past its exp).
	DefaultVerifiedCacheTTL = time.Minute
	// DefaultVerifiedCacheSize is the default bound on remembered tokens.
	DefaultVerifiedCacheSize = 10000
	// MaxCachedTokenLen is the longest token the cache keeps: with the
	// size bound it caps the cache's memory (a few times size x this many
	// bytes at worst; typical tokens are well under 2 KiB). Longer tokens
	// are verified in full every time.
	MaxCachedTokenLen = 4 << 10
	// maxCacheShards is the number of independently locked shards.
	maxCacheShards = 32
	// evictSample is how many entries an insert into a full shard looks
	// at (map iteration starts at a random place), preferring a stale
	// one; otherwise the one that expires first goes.
	evictSample = 8
)

// tokenCache remembers tokens that passed full verification, so that a
// client presenting the same token again skips the signature check (one
// ECDSA P-256 verification costs tens of µs).
//
// Security properties:
//   - the key is the SHA-256 of the whole compact token: the token itself
//     is never stored, and a token differing in any byte (header, claims or
//     signature) is a different key;
//   - only tokens that verified are inserted; a rejected token never is;
//   - an entry expires at min(exp, insert time + ttl); every hit re-checks
//     exp, nbf and iat with the leeway against the current time, so a token
//     is never accepted from the cache after it would be refused by a full
//     verification;
//   - each entry carries the key-set generation it was verified under; a
//     change of the key set that drops or replaces a key bumps the
//     generation, and entries of an older generation are misses;
//   - the size is bounded: an insert into a full shard evicts an entry,
//     and tokens longer than MaxCachedTokenLen are never cached.
//
// A hit never produces an error: any doubt is a miss, and the full
// verification decides. The cached claims are shared by every request
// presenting the token and must be treated as read-only.
type tokenCache struct {
	ttl    time.Duration
	shards *shardmap.Map[[sha256.Size]byte, *cachedToken]
}

type cachedToken struct {
	claims        jwt.MapClaims
	until         time.Time // min(exp, insert time + ttl)
	exp, nbf, iat time.Time // zero when the claim is absent
	gen           uint64
	// ident is the identity built from claims by the first
	// VerifyIdentity that hit the entry, shared by the later ones.
	ident atomic.Pointer[cachedIdentity]
}

type cachedIdentity struct {
	userClaim string
	id        *Identity
}

// newTokenCache returns a cache holding at most size tokens for at most
// ttl each; nil when ttl <= 0 or size <= 0 (caching disabled).
func newTokenCache(ttl time.Duration, size int) *tokenCache {
	if ttl <= 0 || size <= 0 {
		return nil
	}
	n := 1 // a power of two, at most maxCacheShards and size
	for n*2 <= min(maxCacheShards, size) {
		n *= 2
	}
	return &tokenCache{ttl: ttl, shards: shardmap.New[[sha256.Size]byte, *cachedToken](n, size/n)}
}

// shard returns the shard of a token's digest (uniform bytes: the first
// eight are its hash).
func (c *tokenCache) shard(sum *[sha256.Size]byte) *shardmap.Shard[[sha256.Size]byte, *cachedToken] {
	return c.shards.Shard(binary.LittleEndian.Uint64(sum[:8]))
}

// get returns the claims cached for sum if the entry belongs to key-set
// generation gen and the token is still valid at now with leeway.
func (c *tokenCache) get(sum *[sha256.Size]byte, gen uint64, now time.Time, leeway time.Duration) (jwt.MapClaims, bool) {
	if e, ok := c.lookup(sum, gen, now, leeway); ok {
		return e.claims, true
	}
	return nil, false
}

// lookup is get returning the whole entry.
func (c *tokenCache) lookup(sum *[sha256.Size]byte, gen uint64, now time.Time, leeway time.Duration) (*cachedToken, bool) {
	s := c.shard(sum)
	s.Lock()
	e, ok := s.M[*sum]
	s.Unlock()
	if !ok || !e.fresh(gen, now, leeway) {
		return nil, false
	}
	return e, true
}

// fresh re-checks an entry against the current generation and time, the
// way the parser checks exp, nbf and iat.
func (e *cachedToken) fresh(gen uint64, now time.Time, leeway time.Duration) bool {
	if e.gen != gen || !now.Before(e.until) {
		return false
	}
	if !e.exp.IsZero() && !now.Before(e.exp.Add(leeway)) {
		return false
	}
	if !e.nbf.IsZero() && now.Add(leeway).Before(e.nbf) {
		return false
	}
	if !e.iat.IsZero() && now.Add(leeway).Before(e.iat) {
		return false
	}
	return true
}

// put remembers claims of a token that has just verified under key-set
// generation gen. Claims whose time claims cannot be read, or whose exp is
// already past, are not cached.
func (c *tokenCache) put(sum *[sha256.Size]byte, gen uint64, claims jwt.MapClaims, now time.Time) {
	e := &cachedToken{claims: claims, gen: gen, until: now.Add(c.ttl)}
	exp, err := claims.GetExpirationTime()
	if err != nil {
		return
	}
	if exp != nil {
		e.exp = exp.Time
		if e.exp.Before(e.until) {
			e.until = e.exp
		}
	}
	if !now.Before(e.until) {
		return // accepted within the leeway only: not worth caching
	}
	nbf, err := claims.GetNotBefore()
	if err != nil {
		return
	}
	if nbf != nil {
		e.nbf = nbf.Time
	}
	iat, err := claims.GetIssuedAt()
	if err != nil {
		return
	}
	if iat != nil {
		e.iat = iat.Time
	}
	s := c.shard(sum)
	s.Lock()
	// when full: a stale entry of the sample, else the one expiring first
	c.shards.Put(s, *sum, e, evictSample, func(e *cachedToken) bool { return e.gen != gen || !now.Before(e.until) },
		func(e *cachedToken) int64 { return e.until.UnixNano() })
	s.Unlock()
}

// len returns the number of cached entries (tests).
func (c *tokenCache) len() int { return c.shards.Len() }

// VerifyIdentity is Verify followed by IdentityFromClaims(claims,
// userClaim). With the verified-token cache, the identity is built once
// per cached token and shared by every request presenting it (like the
// claims): callers must treat it as read-only. That sharing is what makes
// a cache hit cost no allocation.
func (v *JWTVerifier) VerifyIdentity(token, userClaim string) (*Identity, jwt.MapClaims, error) {
	cache := v.cache
	if cache == nil || len(token) > MaxCachedTokenLen {
		claims, err := v.Verify(token)
		if err != nil {
			return nil, nil, err
		}
		id, err := IdentityFromClaims(claims, userClaim)
		return id, claims, err
	}
	sum := SHA256String(token)
	gen := v.generation()
	if e, ok := cache.lookup(&sum, gen, v.cfg.Now(), v.cfg.Leeway); ok {
		if ci := e.ident.Load(); ci != nil && ci.userClaim == userClaim {
			return ci.id, e.claims, nil
		}
		id, err := IdentityFromClaims(e.claims, userClaim)
		if err != nil {
			return nil, nil, err
		}
		e.ident.Store(&cachedIdentity{userClaim: userClaim, id: id})
		return id, e.claims, nil
	}
	// A miss: full verification (which caches the claims), then the
	// identity goes into the entry just made.
	claims, err := v.Verify(token)
	if err != nil {
		return nil, nil, err
	}
	id, err := IdentityFromClaims(claims, userClaim)
	if err != nil {
		return nil, nil, err
	}
	if e, ok := cache.lookup(&sum, gen, v.cfg.Now(), v.cfg.Leeway); ok {
		e.ident.Store(&cachedIdentity{userClaim: userClaim, id: id})
	}
	return id, claims, nil
}
