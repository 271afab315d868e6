package limiter

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apigw/caddy-apigw/internal/shardmap"
)

// DefaultMaxKeys is the default cap on the keys one memory zone tracks.
const DefaultMaxKeys = 100_000

// BytesPerKey is the approximate memory one tracked key costs in a Memory
// table (an 8-byte key hash and an 8-byte time in a Go map, with the map's
// overhead). The key string itself is not kept.
const BytesPerKey = 40

// evictSample is how many entries are looked at to pick one to evict when
// a shard is full.
const evictSample = 16

// MemoryOptions configure NewMemory.
type MemoryOptions struct {
	// MaxKeys caps how many keys the table tracks (default
	// DefaultMaxKeys). Memory stays below about MaxKeys·BytesPerKey.
	MaxKeys int
	// Shards is the number of independently locked shards, rounded up to
	// a power of two (default 64).
	Shards int
	// SweepEvery is how often idle keys are removed (default 30s; < 0
	// disables the janitor, for tests that call Sweep).
	SweepEvery time.Duration
	// Clock returns a monotonic time in nanoseconds (default: Unix time
	// at creation plus the monotonic time since). Tests pass a fake clock.
	Clock func() int64
	// OnFull is called (once per table, from the request path) the first
	// time a full table has to evict a key that is not idle.
	OnFull func()
}

// Memory is an in-process GCRA table. It keeps, per key, only a 64-bit
// hash of the key (seeded per table, so keys cannot be chosen to collide)
// and the key's theoretical arrival time. It is split into shards with a
// mutex each so concurrent requests rarely contend, allocates nothing for
// a decision on a known key, and is bounded: idle keys (bucket full again)
// are swept periodically, and a full shard evicts, among a random sample,
// an idle key or else the one closest to idle.
type Memory struct {
	policy Policy
	t, tau int64
	table[tatEntry]
}

// tatEntry is a GCRA key's theoretical arrival time: the key is idle (the
// same as absent) from that instant on.
type tatEntry int64

func (e tatEntry) idleAt(int64) int64 { return int64(e) }

// entry is a value layout of the shared table: it tells from which
// instant (in the table's clock) the entry is the same as an absent one,
// so that sweeping and eviction never change a decision they need not.
type entry interface {
	comparable
	idleAt(window int64) int64
}

// table is the sharded, bounded, key-hash map (shardmap.Map) shared by
// the memory algorithms (GCRA, sliding window, calendar); V is the
// per-key state, kept with a 64-bit hash of the key only.
type table[V entry] struct {
	shards   shardmap.Map[uint64, V] // keyed by the key's seeded hash
	window   int64                   // passed to V.idleAt
	now      func() int64
	onFull   func()
	warned   atomic.Bool
	stop     chan struct{}
	stopOnce sync.Once
}

// init sets up the table from opts and starts its janitor.
func (tb *table[V]) init(opts MemoryOptions, window int64) {
	if opts.MaxKeys <= 0 {
		opts.MaxKeys = DefaultMaxKeys
	}
	n := 64
	if opts.Shards > 0 {
		n = 1
		for n < opts.Shards {
			n <<= 1
		}
	}
	for n > 1 && opts.MaxKeys/n < evictSample {
		n >>= 1
	}
	tb.shards.Init(n, (opts.MaxKeys+n-1)/n)
	tb.window = window
	tb.now = opts.Clock
	tb.onFull = opts.OnFull
	tb.stop = make(chan struct{})
	if tb.now == nil {
		// monotonic, but with the Unix epoch as origin so that sliding
		// windows start on wall-clock boundaries (whole minutes for a
		// 1m window), like the Redis backend's
		start := time.Now()
		base := start.UnixNano()
		tb.now = func() int64 { return base + int64(time.Since(start)) }
	}
	if opts.SweepEvery == 0 {
		opts.SweepEvery = 30 * time.Second
	}
	if opts.SweepEvery > 0 {
		go shardmap.Janitor(opts.SweepEvery, tb.stop, tb.Sweep)
	}
}

// NewMemory returns an empty GCRA table for policy. Call Close to stop
// its janitor.
func NewMemory(policy Policy, opts MemoryOptions) (*Memory, error) {
	if err := policy.Validate(); err != nil {
		return nil, err
	}
	if policy.Algorithm != GCRA {
		return nil, fmt.Errorf("NewMemory: algorithm %s: use NewMemoryTable", policy.Algorithm)
	}
	m := &Memory{policy: policy, t: int64(policy.Rate.Interval())}
	m.tau = m.t * policy.Burst
	m.init(opts, int64(policy.Rate.Window))
	return m, nil
}

// MemoryTable is a memory zone of either algorithm.
type MemoryTable interface {
	Limiter
	// Policy returns the table's policy.
	Policy() Policy
	// Sweep removes every idle key.
	Sweep()
	// Len returns the number of tracked keys.
	Len() int
	// Cap returns the most keys the table tracks.
	Cap() int
	// Close stops the janitor.
	Close() error
}

// NewMemoryTable returns an empty memory table running policy.Algorithm.
func NewMemoryTable(policy Policy, opts MemoryOptions) (MemoryTable, error) {
	if policy.Rate.Calendar != Rolling {
		return NewCalendarMemory(policy, opts)
	}
	if policy.Algorithm == SlidingWindow {
		return NewSlidingMemory(policy, opts)
	}
	return NewMemory(policy, opts)
}

// Policy returns the table's policy.
func (m *Memory) Policy() Policy { return m.policy }

// Take implements Limiter. It never fails.
func (m *Memory) Take(_ context.Context, key string) (Result, error) {
	h, s := m.shards.StringShard(key)
	now := m.now()
	s.Lock()
	tat, ok := s.M[h]
	newTAT, allowed, remaining, retry, reset := gcra(int64(tat), now, m.t, m.tau)
	if allowed {
		if !ok && m.shards.Full(s) {
			m.evict(s, now)
		}
		s.M[h] = tatEntry(newTAT)
	}
	s.Unlock()
	return Result{Allowed: allowed, Remaining: remaining, RetryAfter: time.Duration(retry), Reset: time.Duration(reset)}, nil
}

// Refund implements Limiter.
func (m *Memory) Refund(_ context.Context, key string) error {
	h, s := m.shards.StringShard(key)
	now := m.now()
	s.Lock()
	if tat, ok := s.M[h]; ok {
		if tat := refund(int64(tat), now, m.t); tat <= now {
			delete(s.M, h)
		} else {
			s.M[h] = tatEntry(tat)
		}
	}
	s.Unlock()
	return nil
}

// evict removes one entry of the full shard s (locked): an idle one if
// the sample has one, else the one closest to idle.
func (tb *table[V]) evict(s *shardmap.Shard[uint64, V], now int64) {
	live := s.Evict(evictSample, func(v V) bool { return v.idleAt(tb.window) <= now },
		func(v V) int64 { return v.idleAt(tb.window) })
	if live && tb.onFull != nil && tb.warned.CompareAndSwap(false, true) {
		tb.onFull()
	}
}

// Sweep removes every idle key (one whose state is the same as an unknown
// key's).
func (tb *table[V]) Sweep() {
	now := tb.now()
	tb.shards.DeleteFunc(func(_ uint64, v V) bool { return v.idleAt(tb.window) <= now })
}

// Len returns the number of tracked keys.
func (tb *table[V]) Len() int { return tb.shards.Len() }

// Cap returns the most keys the table tracks.
func (tb *table[V]) Cap() int { return tb.shards.Cap() }

// Close stops the janitor. The table stays usable.
func (tb *table[V]) Close() error {
	tb.stopOnce.Do(func() { close(tb.stop) })
	return nil
}

var _ MemoryTable = (*Memory)(nil)
