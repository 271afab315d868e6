// Package shardmap is caddy-apigw's one sharded, bounded map: a Go map
// split into independently locked shards so that concurrent requests
// rarely contend, with an optional bound per shard and sampled eviction.
// The rate limiter's memory tables, the verified-token cache and the
// memory store are built on it.
//
// It is a core, not a cache: callers pick the shard by a hash of their
// own (a seeded maphash, or bytes of a digest), lock it around their own
// compound operations (read, decide, write), and say which entries are
// stale. Entries are stored in a plain map[K]V, so a Map[uint64, int64]
// costs what the map costs (the limiter's 8-byte entries stay 8 bytes).
package shardmap

import (
	"hash/maphash"
	"sync"
	"time"
)

// Map is a map split into a power-of-two number of shards.
type Map[K comparable, V any] struct {
	seed     maphash.Seed
	shards   []Shard[K, V]
	mask     uint64
	perShard int
}

// Shard is one lock and its part of the map. Callers hold the lock while
// they use M. It is a plain mutex, not a sync.RWMutex: the critical
// sections are a map access or two, and for those a mutex costs less than
// a read lock even with parallel readers (measured on 2 cores), and half
// as much as a write lock.
type Shard[K comparable, V any] struct {
	sync.Mutex
	// M is the shard's part of the map.
	M map[K]V
	_ [40]byte // keep the locks of neighbouring shards off one cache line
}

// New returns an empty map of n shards (rounded up to a power of two, at
// least 1), each holding at most perShard entries (0: unbounded).
func New[K comparable, V any](n, perShard int) *Map[K, V] {
	m := new(Map[K, V])
	m.Init(n, perShard)
	return m
}

// Init sets up m as New does, for a Map embedded in another struct.
func (m *Map[K, V]) Init(n, perShard int) {
	size := 1
	for size < n {
		size <<= 1
	}
	m.seed = maphash.MakeSeed()
	m.shards = make([]Shard[K, V], size)
	m.mask = uint64(size - 1)
	m.perShard = perShard
	for i := range m.shards {
		m.shards[i].M = make(map[K]V)
	}
}

// Shard returns the shard of an entry whose key hashes to h.
func (m *Map[K, V]) Shard(h uint64) *Shard[K, V] { return &m.shards[h&m.mask] }

// StringShard returns the hash of key (seeded per map, so keys cannot be
// chosen to collide) and its shard.
func (m *Map[K, V]) StringShard(key string) (uint64, *Shard[K, V]) {
	h := maphash.String(m.seed, key)
	return h, &m.shards[h&m.mask]
}

// Shards returns the number of shards.
func (m *Map[K, V]) Shards() int { return len(m.shards) }

// Full reports whether the locked shard s is at its bound: a new key
// needs an Evict first.
func (m *Map[K, V]) Full(s *Shard[K, V]) bool { return m.perShard > 0 && len(s.M) >= m.perShard }

// Cap returns the most entries the map holds (0: unbounded).
func (m *Map[K, V]) Cap() int { return m.perShard * len(m.shards) }

// Len returns the number of entries.
func (m *Map[K, V]) Len() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.Lock()
		n += len(s.M)
		s.Unlock()
	}
	return n
}

// Range calls fn for every entry, one shard (locked) at a time; fn must
// not use the map.
func (m *Map[K, V]) Range(fn func(K, V)) {
	for i := range m.shards {
		s := &m.shards[i]
		s.Lock()
		for k, v := range s.M {
			fn(k, v)
		}
		s.Unlock()
	}
}

// DeleteFunc removes every entry for which stale returns true, one shard
// (locked) at a time.
func (m *Map[K, V]) DeleteFunc(stale func(K, V) bool) {
	for i := range m.shards {
		s := &m.shards[i]
		s.Lock()
		for k, v := range s.M {
			if stale(k, v) {
				delete(s.M, k)
			}
		}
		s.Unlock()
	}
}

// Put stores v under k in the locked shard s, first making room with
// s.Evict(n, stale, rank) when k is new and s is full. It reports
// whether an entry that was not stale had to go.
func (m *Map[K, V]) Put(s *Shard[K, V], k K, v V, n int, stale func(V) bool, rank func(V) int64) (live bool) {
	if _, ok := s.M[k]; !ok && m.Full(s) {
		live = s.Evict(n, stale, rank)
	}
	s.M[k] = v
	return live
}

// Evict makes room in the locked shard s: among a sample of up to n
// entries (map iteration starts at a random place) it removes the first
// stale one, or else the one with the smallest rank (the closest to
// stale). It reports whether it had to remove an entry that was not
// stale.
func (s *Shard[K, V]) Evict(n int, stale func(V) bool, rank func(V) int64) (live bool) {
	var victim K
	best, i := int64(1<<63-1), 0
	for k, v := range s.M {
		if stale(v) {
			delete(s.M, k)
			return false
		}
		if r := rank(v); i == 0 || r < best {
			best, victim = r, k
		}
		if i++; i >= n {
			break
		}
	}
	if i == 0 {
		return false
	}
	delete(s.M, victim)
	return true
}

// Janitor calls sweep every interval until stop is closed; run it in a
// goroutine of its own (the tables' periodic removal of stale entries).
func Janitor(every time.Duration, stop <-chan struct{}, sweep func()) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			sweep()
		}
	}
}
