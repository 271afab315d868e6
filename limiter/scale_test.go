package limiter

import (
	"context"
	"github.com/apigw/caddy-apigw/internal/testutil"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// TestMemoryZoneScale fills a memory zone with 100k keys and then twice
// as many: the table never holds more than its cap, and the test logs
// the heap the 100k keys cost (docs/GUIDE.md, "Scaling").
func TestMemoryZoneScale(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a 100k-key table")
	}
	const n = 100_000
	keys := benchKeys(2 * n)
	for _, alg := range []Algorithm{GCRA, SlidingWindow} {
		t.Run(alg.String(), func(t *testing.T) {
			before := testutil.HeapInUse()
			m, err := NewMemoryTable(Policy{Rate: Rate{Events: 10, Window: time.Second}, Burst: 10, Algorithm: alg}, MemoryOptions{MaxKeys: n, SweepEvery: -1})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			ctx := context.Background()
			for _, k := range keys[:n] {
				m.Take(ctx, k)
			}
			after := testutil.HeapInUse()
			t.Logf("memory zone (%s): %d keys, %.1f MiB heap, %d bytes per key", alg, m.Len(), float64(after-before)/(1<<20), (after-before)/uint64(m.Len()))
			for _, k := range keys[n:] {
				m.Take(ctx, k)
			}
			if m.Len() > m.Cap() || m.Cap() > n+n/100 {
				t.Fatalf("%d keys tracked, cap %d, configured %d", m.Len(), m.Cap(), n)
			}
		})
	}
	runtime.KeepAlive(keys)
}

// BenchmarkMemoryTakeKeys is the cost of a decision on a known key with
// 1k, 10k and 100k keys in the zone: it must not grow with the keys
// (a hash lookup; only the CPU cache hit rate changes).
func BenchmarkMemoryTakeKeys(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run(strconv.Itoa(n/1000)+"k", func(b *testing.B) {
			m, err := NewMemory(Policy{Rate: Rate{Events: 1_000_000, Window: time.Second}, Burst: 1 << 30}, MemoryOptions{MaxKeys: n, SweepEvery: -1})
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			keys := benchKeys(n)
			ctx := context.Background()
			for _, k := range keys {
				m.Take(ctx, k)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				// a stride through the keys, so the large table is not
				// served from a warm cache line
				i = (i + 7919) % n
				if res, _ := m.Take(ctx, keys[i]); !res.Allowed {
					b.Fatal("denied")
				}
			}
		})
	}
}
