package authn

import (
	"crypto/sha256"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/golang-jwt/jwt/v5"
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
	// at, preferring a stale one; otherwise the first one (a random entry:
	// map iteration starts at a random place) goes.
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
	ttl      time.Duration
	perShard int
	shards   []cacheShard
}

type cacheShard struct {
	mu sync.RWMutex
	m  map[[sha256.Size]byte]cachedToken
	_  [64]byte // keep the locks of neighbouring shards off one cache line
}

type cachedToken struct {
	claims        jwt.MapClaims
	until         time.Time // min(exp, insert time + ttl)
	exp, nbf, iat time.Time // zero when the claim is absent
	gen           uint64
	// ident is the identity built from claims by the first
	// VerifyIdentity that hit the entry, shared by the later ones.
	ident *atomic.Pointer[cachedIdentity]
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
	n := min(maxCacheShards, size)
	c := &tokenCache{ttl: ttl, perShard: size / n, shards: make([]cacheShard, n)}
	for i := range c.shards {
		c.shards[i].m = make(map[[sha256.Size]byte]cachedToken)
	}
	return c
}

func (c *tokenCache) shard(sum *[sha256.Size]byte) *cacheShard {
	return &c.shards[int(sum[0])%len(c.shards)]
}

// get returns the claims cached for sum if the entry belongs to key-set
// generation gen and the token is still valid at now with leeway.
func (c *tokenCache) get(sum *[sha256.Size]byte, gen uint64, now time.Time, leeway time.Duration) (jwt.MapClaims, bool) {
	e, ok := c.lookup(sum, gen, now, leeway)
	return e.claims, ok
}

// lookup is get returning the whole entry.
func (c *tokenCache) lookup(sum *[sha256.Size]byte, gen uint64, now time.Time, leeway time.Duration) (cachedToken, bool) {
	s := c.shard(sum)
	s.mu.RLock()
	e, ok := s.m[*sum]
	s.mu.RUnlock()
	if !ok || !e.fresh(gen, now, leeway) {
		return cachedToken{}, false
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
	e := cachedToken{claims: claims, gen: gen, until: now.Add(c.ttl), ident: new(atomic.Pointer[cachedIdentity])}
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
	s.mu.Lock()
	if _, ok := s.m[*sum]; !ok && len(s.m) >= c.perShard {
		s.evict(gen, now)
	}
	s.m[*sum] = e
	s.mu.Unlock()
}

// evict removes stale entries among a small sample, or else one entry of
// the sample. The caller holds s.mu.
func (s *cacheShard) evict(gen uint64, now time.Time) {
	var victim [sha256.Size]byte
	seen, removed := 0, false
	for k, e := range s.m {
		if seen == 0 {
			victim = k
		}
		if e.gen != gen || !now.Before(e.until) {
			delete(s.m, k)
			removed = true
		}
		if seen++; seen >= evictSample {
			break
		}
	}
	if !removed {
		delete(s.m, victim)
	}
}

// len returns the number of cached entries (tests).
func (c *tokenCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}

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
	// as in Verify: hash the string's bytes in place
	sum := sha256.Sum256(unsafe.Slice(unsafe.StringData(token), len(token)))
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
