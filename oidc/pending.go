package oidc

import (
	"sync"
	"time"
)

// DefaultMaxPendingLogins bounds the logins one gateway has started and
// not yet finished (or seen expire).
const DefaultMaxPendingLogins = 10000

// PendingFullError is the cause of a refused login while MaxPending
// logins are outstanding: RetryAfter is when the oldest one expires.
type PendingFullError struct {
	// RetryAfter is the wait until a slot frees up by expiry.
	RetryAfter time.Duration
}

func (e *PendingFullError) Error() string {
	return "oidc: too many logins in progress (retry after " + e.RetryAfter.String() + ")"
}

// pending counts the login states this instance has begun and not yet
// consumed or seen expire. Each unauthenticated GET of the login path
// stores a state for the state TTL: without a bound a client could grow
// the store without limit. When full, a new login is refused (not the
// oldest evicted): eviction would let a flood silently break the logins
// real users have in progress at the issuer, while a refusal is visible,
// temporary and touches only new logins.
type pending struct {
	mu    sync.Mutex
	max   int
	live  map[string]int64 // state hash → expiry (unix nanoseconds)
	order []pendingEntry   // begin order, which is expiry order (one TTL)
}

type pendingEntry struct {
	hash    string
	expires int64
}

// add reserves a slot for hash until expires, or reports how long until
// one frees up.
func (p *pending) add(hash string, now, expires int64) (time.Duration, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.prune(now)
	if len(p.live) >= p.max {
		return time.Duration(p.order[0].expires - now), false
	}
	if p.live == nil {
		p.live = make(map[string]int64)
	}
	p.live[hash] = expires
	p.order = append(p.order, pendingEntry{hash, expires})
	return 0, true
}

// done frees the slot of a consumed state.
func (p *pending) done(hash string) {
	p.mu.Lock()
	delete(p.live, hash)
	p.mu.Unlock()
}

// prune drops expired and consumed entries from the front of the queue,
// and compacts it when consumed entries pile up behind a live one.
func (p *pending) prune(now int64) {
	i := 0
	for ; i < len(p.order); i++ {
		e := p.order[i]
		exp, ok := p.live[e.hash]
		if ok && exp == e.expires && now < exp {
			break
		}
		if ok && exp == e.expires {
			delete(p.live, e.hash)
		}
	}
	p.order = p.order[i:]
	if len(p.order) > 2*p.max+16 {
		kept := make([]pendingEntry, 0, len(p.live))
		for _, e := range p.order {
			if exp, ok := p.live[e.hash]; ok && exp == e.expires {
				kept = append(kept, e)
			}
		}
		p.order = kept
	}
}

// count returns the outstanding logins.
func (p *pending) count(now int64) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.prune(now)
	return len(p.live)
}
