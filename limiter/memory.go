package limiter

import (
	"context"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
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
	// Clock returns a monotonic time in nanoseconds (default: time since
	// the table was created). Tests pass a fake clock.
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
	policy   Policy
	t, tau   int64
	seed     maphash.Seed
	shards   []memShard
	mask     uint64
	perShard int
	now      func() int64
	onFull   func()
	warned   atomic.Bool
	stop     chan struct{}
	stopOnce sync.Once
}

type memShard struct {
	mu sync.Mutex
	m  map[uint64]int64
	_  [40]byte // keep shards on separate cache lines
}

// NewMemory returns an empty table for policy. Call Close to stop its
// janitor.
func NewMemory(policy Policy, opts MemoryOptions) (*Memory, error) {
	if err := policy.Validate(); err != nil {
		return nil, err
	}
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
	m := &Memory{
		policy:   policy,
		t:        int64(policy.Rate.Interval()),
		seed:     maphash.MakeSeed(),
		shards:   make([]memShard, n),
		mask:     uint64(n - 1),
		perShard: (opts.MaxKeys + n - 1) / n,
		now:      opts.Clock,
		onFull:   opts.OnFull,
		stop:     make(chan struct{}),
	}
	m.tau = m.t * policy.Burst
	if m.now == nil {
		start := time.Now()
		m.now = func() int64 { return int64(time.Since(start)) }
	}
	for i := range m.shards {
		m.shards[i].m = make(map[uint64]int64)
	}
	if opts.SweepEvery == 0 {
		opts.SweepEvery = 30 * time.Second
	}
	if opts.SweepEvery > 0 {
		go m.janitor(opts.SweepEvery)
	}
	return m, nil
}

// Policy returns the table's policy.
func (m *Memory) Policy() Policy { return m.policy }

// Take implements Limiter. It never fails.
func (m *Memory) Take(_ context.Context, key string) (Result, error) {
	h := maphash.String(m.seed, key)
	s := &m.shards[h&m.mask]
	now := m.now()
	s.mu.Lock()
	tat, ok := s.m[h]
	newTAT, allowed, remaining, retry, reset := gcra(tat, now, m.t, m.tau)
	if allowed {
		if !ok && len(s.m) >= m.perShard {
			m.evict(s, now)
		}
		s.m[h] = newTAT
	}
	s.mu.Unlock()
	return Result{Allowed: allowed, Remaining: remaining, RetryAfter: time.Duration(retry), Reset: time.Duration(reset)}, nil
}

// Refund implements Limiter.
func (m *Memory) Refund(_ context.Context, key string) error {
	h := maphash.String(m.seed, key)
	s := &m.shards[h&m.mask]
	now := m.now()
	s.mu.Lock()
	if tat, ok := s.m[h]; ok {
		if tat = refund(tat, now, m.t); tat <= now {
			delete(s.m, h)
		} else {
			s.m[h] = tat
		}
	}
	s.mu.Unlock()
	return nil
}

// evict removes one entry of the full shard s (locked): an idle one if the
// sample has one, else the one closest to idle.
func (m *Memory) evict(s *memShard, now int64) {
	var victim uint64
	best := int64(1<<63 - 1)
	i := 0
	for h, tat := range s.m {
		if tat <= now {
			delete(s.m, h)
			return
		}
		if tat < best {
			best, victim = tat, h
		}
		if i++; i >= evictSample {
			break
		}
	}
	delete(s.m, victim)
	if m.onFull != nil && m.warned.CompareAndSwap(false, true) {
		m.onFull()
	}
}

// Sweep removes every idle key (one whose bucket is full again, which is
// the same as an unknown key).
func (m *Memory) Sweep() {
	now := m.now()
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		for h, tat := range s.m {
			if tat <= now {
				delete(s.m, h)
			}
		}
		s.mu.Unlock()
	}
}

// Len returns the number of tracked keys.
func (m *Memory) Len() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

// Cap returns the most keys the table tracks.
func (m *Memory) Cap() int { return m.perShard * len(m.shards) }

// Close stops the janitor. The table stays usable.
func (m *Memory) Close() error {
	m.stopOnce.Do(func() { close(m.stop) })
	return nil
}

func (m *Memory) janitor(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			m.Sweep()
		}
	}
}

var _ Limiter = (*Memory)(nil)
