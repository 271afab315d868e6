package oidc

import (
	"context"
	"crypto/sha256"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// Introspection defaults.
const (
	DefaultIntrospectionTTL      = time.Minute
	DefaultIntrospectionNegTTL   = 5 * time.Second
	DefaultIntrospectionCacheMax = 10000
	DefaultIntrospectionMaxBody  = 64 << 10
	// MaxTokenLen bounds a token sent for introspection; longer ones are
	// refused without a call.
	MaxTokenLen = 4096
)

// Result is an RFC 7662 introspection answer, reduced to what the gateway
// uses. It is shared by every request that hits the cache: read only.
type Result struct {
	// Active is the token's active member.
	Active bool
	// Sub, ClientID, Username, TokenType are the members of those names.
	Sub, ClientID, Username, TokenType string
	// Scope is the space-separated scope member; Scopes the same split.
	Scope  string
	Scopes []string
	// Exp is the token's expiry (zero when absent).
	Exp time.Time
	// CnfJKT and CnfX5T are the confirmation members (RFC 9449 jkt,
	// RFC 8705 x5t#S256): a token that has one is sender-constrained and
	// must not be accepted as a plain Bearer token.
	CnfJKT, CnfX5T string
	// CnfUnknown is true when the answer has a cnf the gateway cannot
	// check (another confirmation method such as jwk or kid, or no
	// member at all, RFC 7800): the token is sender-constrained too.
	CnfUnknown bool
}

// Bound reports whether the token is sender-constrained (has a cnf).
func (r *Result) Bound() bool { return r.CnfJKT != "" || r.CnfX5T != "" || r.CnfUnknown }

// Introspector checks opaque tokens at an RFC 7662 endpoint with
// client_secret_basic authentication. Answers are cached, keyed by the
// SHA-256 of the token (the token itself is never kept): active ones until
// min(exp, TTL), inactive ones for NegTTL. Concurrent requests for one
// token that miss the cache share one call.
type Introspector struct {
	// Endpoint returns the introspection endpoint URL (e.g. from
	// discovery); an error means the issuer is unavailable.
	Endpoint func(ctx context.Context) (string, error)
	// ClientID and ClientSecret authenticate the gateway.
	ClientID, ClientSecret string
	// Client makes the calls.
	Client *http.Client
	// TTL caps how long an active answer is reused.
	TTL time.Duration
	// NegTTL is how long an inactive answer is reused.
	NegTTL time.Duration
	// MaxEntries bounds the cache.
	MaxEntries int
	// MaxBody caps the answer's size.
	MaxBody int64
	// Timeout bounds one call.
	Timeout time.Duration
	// IssuerLabel names the issuer in the details of failures.
	IssuerLabel string
	// Called, when set, is told the outcome of every call made to the
	// issuer (not of cache hits): "active", "inactive" or "error".
	Called func(result string)

	// The cache is a map under an RWMutex rather than a library cache:
	// a hit is one SHA-256, one read lock and one map lookup with a
	// [32]byte key — 0 allocations (see BenchmarkIntrospectCacheHit).
	mu    sync.RWMutex
	cache map[[sha256.Size]byte]cacheEntry
	sf    singleflight.Group
	calls atomic.Int64
	now   func() time.Time
}

type cacheEntry struct {
	res     *Result
	expires int64 // unix nanoseconds
}

// inactive is the shared answer for inactive tokens.
var inactive = &Result{}

// Calls returns how many calls were made to the endpoint.
func (in *Introspector) Calls() int64 { return in.calls.Load() }

func (in *Introspector) clock() time.Time {
	if in.now != nil {
		return in.now()
	}
	return time.Now()
}

// Introspect returns the answer for token: from the cache, or from one
// call shared by concurrent callers. An inactive or unusable token gives
// a Result with Active false and a nil error; a failure.ErrUnavailable
// means no answer could be had (the issuer is unreachable, answered with
// an error status, or sent a body that is too large or not the RFC 7662
// JSON object; nothing was cached).
func (in *Introspector) Introspect(ctx context.Context, token string) (*Result, error) {
	if token == "" || len(token) > MaxTokenLen {
		return inactive, nil
	}
	// []byte(token) would allocate for tokens over 32 bytes; a stack
	// buffer (tokens are at most MaxTokenLen) keeps the hit at 0 allocs
	var buf [MaxTokenLen]byte
	key := sha256.Sum256(buf[:copy(buf[:], token)])
	now := in.clock().UnixNano()
	in.mu.RLock()
	e, ok := in.cache[key]
	in.mu.RUnlock()
	if ok && now < e.expires {
		return e.res, nil
	}
	return in.miss(ctx, key, token)
}

// miss makes (or joins) the call for a token not in the cache. It is a
// separate function so that the closure's captures do not make the hit
// path allocate.
func (in *Introspector) miss(ctx context.Context, key [sha256.Size]byte, token string) (*Result, error) {
	v, err, _ := in.sf.Do(string(key[:]), func() (any, error) {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), in.timeout())
		defer cancel()
		res, err := in.call(cctx, token)
		if in.Called != nil {
			switch {
			case err != nil:
				in.Called("error")
			case res.Active:
				in.Called("active")
			default:
				in.Called("inactive")
			}
		}
		if err != nil {
			return nil, err
		}
		in.store(key, res)
		return res, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*Result), nil
}

func (in *Introspector) timeout() time.Duration {
	if in.Timeout > 0 {
		return in.Timeout
	}
	return DefaultTimeout
}

func (in *Introspector) store(key [sha256.Size]byte, res *Result) {
	now := in.clock()
	var until time.Time
	if res.Active {
		ttl := in.TTL
		if ttl <= 0 {
			ttl = DefaultIntrospectionTTL
		}
		until = now.Add(ttl)
		if !res.Exp.IsZero() && res.Exp.Before(until) {
			until = res.Exp
		}
	} else {
		neg := in.NegTTL
		if neg <= 0 {
			neg = DefaultIntrospectionNegTTL
		}
		until = now.Add(neg)
	}
	if !until.After(now) {
		return
	}
	max := in.MaxEntries
	if max <= 0 {
		max = DefaultIntrospectionCacheMax
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.cache == nil {
		in.cache = make(map[[sha256.Size]byte]cacheEntry)
	}
	if len(in.cache) >= max {
		n := now.UnixNano()
		for k, e := range in.cache {
			if n >= e.expires {
				delete(in.cache, k)
			}
		}
		// still full: drop arbitrary entries (map order is random) until
		// a tenth is free, so a flood of distinct tokens stays bounded
		for k := range in.cache {
			if len(in.cache) < max-max/10 {
				break
			}
			delete(in.cache, k)
		}
	}
	in.cache[key] = cacheEntry{res: res, expires: until.UnixNano()}
}
