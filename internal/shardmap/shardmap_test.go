package shardmap

import "testing"

func TestMapBoundEvictSweep(t *testing.T) {
	m := New[uint64, int64](3, 4) // rounded up to 4 shards of 4
	if m.Shards() != 4 || m.Cap() != 16 {
		t.Fatalf("shards %d cap %d, want 4 and 16", m.Shards(), m.Cap())
	}
	s := m.Shard(1)
	s.Lock()
	for k := range uint64(4) {
		s.M[k*4+1] = int64(k) // ranks 0..3, all live
	}
	if !m.Full(s) {
		t.Fatal("a shard at its bound is not full")
	}
	stale := func(v int64) bool { return v < 0 }
	rank := func(v int64) int64 { return v }
	if live := s.Evict(8, stale, rank); !live {
		t.Fatal("evicting among live entries reported a stale one")
	}
	if _, ok := s.M[1]; ok || len(s.M) != 3 {
		t.Fatalf("evicted the wrong entry: %v", s.M)
	}
	s.M[99] = -1
	if live := s.Evict(8, stale, rank); live || len(s.M) != 3 {
		t.Fatalf("a stale entry was not the one evicted: %v", s.M)
	}
	s.Unlock()
	m.DeleteFunc(func(_ uint64, v int64) bool { return v >= 2 })
	n := 0
	m.Range(func(uint64, int64) { n++ })
	if n != 1 || m.Len() != 1 {
		t.Fatalf("%d entries after the sweep (Len %d), want 1", n, m.Len())
	}
	if u := New[string, int](2, 0); u.Full(u.Shard(0)) || u.Cap() != 0 {
		t.Fatal("an unbounded map is full")
	}
}
