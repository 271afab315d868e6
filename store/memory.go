package store

import (
	"context"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/apigw/caddy-apigw/internal/shardmap"
)

const memShards = 64

// Memory is the in-process Store. It is safe for concurrent use; expired
// entries are purged by a janitor goroutine and lazily on read.
type Memory struct {
	items   shardmap.Map[string, memItem]
	indexes shardmap.Map[string, *memIndex]
	now     func() time.Time

	subMu   sync.RWMutex
	subs    map[string]map[int]func(string)
	nextSub int

	stop chan struct{}
	once sync.Once
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
	m := &Memory{now: time.Now, subs: map[string]map[int]func(string){}, stop: make(chan struct{})}
	m.items.Init(memShards, 0)
	m.indexes.Init(memShards, 0)
	if interval <= 0 {
		interval = time.Minute
	}
	go shardmap.Janitor(interval, m.stop, m.Purge)
	return m
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
	_, s := m.items.StringShard(key)
	s.Lock()
	it, ok := s.M[key]
	s.Unlock()
	if !ok || expired(it.expires, m.now().UnixNano()) {
		return nil, ErrNotFound
	}
	return it.value, nil
}

// Set implements Store.
func (m *Memory) Set(_ context.Context, key string, value []byte, ttl time.Duration) error {
	v := append([]byte(nil), value...)
	_, s := m.items.StringShard(key)
	s.Lock()
	s.M[key] = memItem{value: v, expires: m.deadline(ttl)}
	s.Unlock()
	return nil
}

// SetNX implements Store.
func (m *Memory) SetNX(_ context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	_, s := m.items.StringShard(key)
	now := m.now().UnixNano()
	s.Lock()
	defer s.Unlock()
	if it, ok := s.M[key]; ok && !expired(it.expires, now) {
		return false, nil
	}
	s.M[key] = memItem{value: append([]byte(nil), value...), expires: m.deadline(ttl)}
	return true, nil
}

// Delete implements Store.
func (m *Memory) Delete(_ context.Context, keys ...string) error {
	for _, k := range keys {
		_, s := m.items.StringShard(k)
		s.Lock()
		delete(s.M, k)
		s.Unlock()
		_, ix := m.indexes.StringShard(k)
		ix.Lock()
		delete(ix.M, k)
		ix.Unlock()
	}
	return nil
}

// IndexAdd implements Store.
func (m *Memory) IndexAdd(_ context.Context, index, member string, score int64, ttl time.Duration) error {
	_, s := m.indexes.StringShard(index)
	now := m.now().UnixNano()
	s.Lock()
	defer s.Unlock()
	ix := s.M[index]
	if ix == nil || expired(ix.expires, now) {
		ix = &memIndex{members: map[string]int64{}}
		s.M[index] = ix
	}
	ix.members[member] = score
	if ttl > 0 {
		ix.expires = m.deadline(ttl)
	}
	return nil
}

// IndexMembers implements Store.
func (m *Memory) IndexMembers(_ context.Context, index string) ([]string, error) {
	_, s := m.indexes.StringShard(index)
	s.Lock()
	defer s.Unlock()
	ix := s.M[index]
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
	_, s := m.indexes.StringShard(index)
	s.Lock()
	defer s.Unlock()
	if ix := s.M[index]; ix != nil {
		for _, mem := range members {
			delete(ix.members, mem)
		}
		if len(ix.members) == 0 {
			delete(s.M, index)
		}
	}
	return nil
}

// Keys implements Store; like Redis's SCAN it lists values and indexes.
func (m *Memory) Keys(_ context.Context, prefix string) ([]string, error) {
	now := m.now().UnixNano()
	var out []string
	add := func(k string, exp int64) {
		if strings.HasPrefix(k, prefix) && !expired(exp, now) {
			out = append(out, k)
		}
	}
	m.items.Range(func(k string, it memItem) { add(k, it.expires) })
	m.indexes.Range(func(k string, ix *memIndex) { add(k, ix.expires) })
	sort.Strings(out)
	return slices.Compact(out), nil // a value and an index may share a key
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
func (m *Memory) Len() int { return m.items.Len() }

// Purge removes every expired item and index now.
func (m *Memory) Purge() {
	now := m.now().UnixNano()
	m.items.DeleteFunc(func(_ string, it memItem) bool { return expired(it.expires, now) })
	m.indexes.DeleteFunc(func(_ string, ix *memIndex) bool { return expired(ix.expires, now) })
}

var _ Store = (*Memory)(nil)
