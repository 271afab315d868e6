package store

import (
	"context"
	"hash/maphash"
	"sort"
	"strings"
	"sync"
	"time"
)

const memShards = 64

// Memory is the in-process Store. It is safe for concurrent use; expired
// entries are purged by a janitor goroutine and lazily on read.
type Memory struct {
	seed   maphash.Seed
	shards [memShards]memShard
	now    func() time.Time

	subMu   sync.RWMutex
	subs    map[string]map[int]func(string)
	nextSub int

	stop chan struct{}
	once sync.Once
}

type memShard struct {
	mu      sync.RWMutex
	items   map[string]memItem
	indexes map[string]*memIndex
}

type memItem struct {
	value   []byte
	expires int64 // unix nanos; 0 = never
}

type memIndex struct {
	members map[string]int64
	expires int64
}

// NewMemory returns an empty memory store whose janitor purges expired
// entries every interval (a minute if interval <= 0).
func NewMemory(interval time.Duration) *Memory {
	m := &Memory{seed: maphash.MakeSeed(), now: time.Now, subs: map[string]map[int]func(string){}, stop: make(chan struct{})}
	for i := range m.shards {
		m.shards[i].items = map[string]memItem{}
		m.shards[i].indexes = map[string]*memIndex{}
	}
	if interval <= 0 {
		interval = time.Minute
	}
	go m.janitor(interval)
	return m
}

func (m *Memory) shard(key string) *memShard {
	return &m.shards[maphash.String(m.seed, key)%memShards]
}

func (m *Memory) deadline(ttl time.Duration) int64 {
	if ttl <= 0 {
		return 0
	}
	return m.now().Add(ttl).UnixNano()
}

func expired(exp, now int64) bool { return exp != 0 && now >= exp }

// Get implements Store. The returned slice is shared: do not modify it.
func (m *Memory) Get(_ context.Context, key string) ([]byte, error) {
	s := m.shard(key)
	s.mu.RLock()
	it, ok := s.items[key]
	s.mu.RUnlock()
	if !ok || expired(it.expires, m.now().UnixNano()) {
		return nil, ErrNotFound
	}
	return it.value, nil
}

// Set implements Store.
func (m *Memory) Set(_ context.Context, key string, value []byte, ttl time.Duration) error {
	v := append([]byte(nil), value...)
	s := m.shard(key)
	s.mu.Lock()
	s.items[key] = memItem{value: v, expires: m.deadline(ttl)}
	s.mu.Unlock()
	return nil
}

// SetNX implements Store.
func (m *Memory) SetNX(_ context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	s := m.shard(key)
	now := m.now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	if it, ok := s.items[key]; ok && !expired(it.expires, now) {
		return false, nil
	}
	s.items[key] = memItem{value: append([]byte(nil), value...), expires: m.deadline(ttl)}
	return true, nil
}

// Delete implements Store.
func (m *Memory) Delete(_ context.Context, keys ...string) error {
	for _, k := range keys {
		s := m.shard(k)
		s.mu.Lock()
		delete(s.items, k)
		delete(s.indexes, k)
		s.mu.Unlock()
	}
	return nil
}

// IndexAdd implements Store.
func (m *Memory) IndexAdd(_ context.Context, index, member string, score int64, ttl time.Duration) error {
	s := m.shard(index)
	now := m.now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	ix := s.indexes[index]
	if ix == nil || expired(ix.expires, now) {
		ix = &memIndex{members: map[string]int64{}}
		s.indexes[index] = ix
	}
	ix.members[member] = score
	if ttl > 0 {
		ix.expires = m.deadline(ttl)
	}
	return nil
}

// IndexMembers implements Store.
func (m *Memory) IndexMembers(_ context.Context, index string) ([]string, error) {
	s := m.shard(index)
	s.mu.RLock()
	defer s.mu.RUnlock()
	ix := s.indexes[index]
	if ix == nil || expired(ix.expires, m.now().UnixNano()) {
		return nil, nil
	}
	out := make([]string, 0, len(ix.members))
	for k := range ix.members {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool {
		si, sj := ix.members[out[i]], ix.members[out[j]]
		if si != sj {
			return si < sj
		}
		return out[i] < out[j]
	})
	return out, nil
}

// IndexRemove implements Store.
func (m *Memory) IndexRemove(_ context.Context, index string, members ...string) error {
	s := m.shard(index)
	s.mu.Lock()
	defer s.mu.Unlock()
	if ix := s.indexes[index]; ix != nil {
		for _, mem := range members {
			delete(ix.members, mem)
		}
		if len(ix.members) == 0 {
			delete(s.indexes, index)
		}
	}
	return nil
}

// Keys implements Store; like Redis's SCAN it lists values and indexes.
func (m *Memory) Keys(_ context.Context, prefix string) ([]string, error) {
	now := m.now().UnixNano()
	var out []string
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.RLock()
		for k, it := range s.items {
			if strings.HasPrefix(k, prefix) && !expired(it.expires, now) {
				out = append(out, k)
			}
		}
		for k, ix := range s.indexes {
			if _, dup := s.items[k]; !dup && strings.HasPrefix(k, prefix) && !expired(ix.expires, now) {
				out = append(out, k)
			}
		}
		s.mu.RUnlock()
	}
	sort.Strings(out)
	return out, nil
}

// Publish implements Store; delivery is synchronous and in-process.
func (m *Memory) Publish(_ context.Context, channel, msg string) error {
	m.subMu.RLock()
	fns := make([]func(string), 0, len(m.subs[channel]))
	for _, fn := range m.subs[channel] {
		fns = append(fns, fn)
	}
	m.subMu.RUnlock()
	for _, fn := range fns {
		fn(msg)
	}
	return nil
}

// Subscribe implements Store.
func (m *Memory) Subscribe(channel string, fn func(msg string)) func() {
	m.subMu.Lock()
	id := m.nextSub
	m.nextSub++
	if m.subs[channel] == nil {
		m.subs[channel] = map[int]func(string){}
	}
	m.subs[channel][id] = fn
	m.subMu.Unlock()
	return func() {
		m.subMu.Lock()
		delete(m.subs[channel], id)
		m.subMu.Unlock()
	}
}

// Kind implements Store.
func (m *Memory) Kind() string { return "memory" }

// Close stops the janitor.
func (m *Memory) Close() error {
	m.once.Do(func() { close(m.stop) })
	return nil
}

// Len returns the number of live items, for tests and metrics.
func (m *Memory) Len() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.RLock()
		n += len(s.items)
		s.mu.RUnlock()
	}
	return n
}

// Purge removes every expired item and index now.
func (m *Memory) Purge() {
	now := m.now().UnixNano()
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		for k, it := range s.items {
			if expired(it.expires, now) {
				delete(s.items, k)
			}
		}
		for k, ix := range s.indexes {
			if expired(ix.expires, now) {
				delete(s.indexes, k)
			}
		}
		s.mu.Unlock()
	}
}

func (m *Memory) janitor(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			m.Purge()
		}
	}
}

var _ Store = (*Memory)(nil)
