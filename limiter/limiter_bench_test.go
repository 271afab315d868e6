package limiter

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apigw/caddy-apigw/internal/testutil"
)

func benchKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "user-" + strconv.Itoa(i)
	}
	return keys
}

// BenchmarkMemoryAllow: allowed decisions on 1024 known keys.
func BenchmarkMemoryAllow(b *testing.B) {
	m, err := NewMemory(Policy{Rate: Rate{Events: 1_000_000, Window: time.Second}, Burst: 1 << 30}, MemoryOptions{SweepEvery: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	keys := benchKeys(1024)
	ctx := context.Background()
	for _, k := range keys {
		m.Take(ctx, k)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if res, _ := m.Take(ctx, keys[i&1023]); !res.Allowed {
			b.Fatal("denied")
		}
	}
}

// BenchmarkMemoryDeny: denied decisions on an exhausted key.
func BenchmarkMemoryDeny(b *testing.B) {
	m, err := NewMemory(Policy{Rate: Rate{Events: 1, Window: time.Hour}, Burst: 1}, MemoryOptions{SweepEvery: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	m.Take(ctx, "k")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if res, _ := m.Take(ctx, "k"); res.Allowed {
			b.Fatal("allowed")
		}
	}
}

// BenchmarkMemoryParallel: allowed decisions from all cores on 64k keys.
func BenchmarkMemoryParallel(b *testing.B) {
	m, err := NewMemory(Policy{Rate: Rate{Events: 1_000_000, Window: time.Second}, Burst: 1 << 30}, MemoryOptions{SweepEvery: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	keys := benchKeys(1 << 16)
	ctx := context.Background()
	for _, k := range keys {
		m.Take(ctx, k)
	}
	var seq atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(seq.Add(1)) * 7919
		for pb.Next() {
			m.Take(ctx, keys[i&(1<<16-1)])
			i++
		}
	})
}

// BenchmarkRedisTake: one decision = one EVALSHA round trip to a real
// redis-server on loopback.
func BenchmarkRedisTake(b *testing.B) {
	srv := testutil.StartRedis(b)
	z, _ := newRedisZone(b, redisAddr(srv), "1000000/1s", 1<<30, RedisOptions{Timeout: time.Second})
	ctx := context.Background()
	keys := benchKeys(1024)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := z.Take(ctx, keys[i&1023]); err != nil {
			b.Fatal(err)
		}
	}
}

func benchSliding(b *testing.B, events int64) *SlidingMemory {
	b.Helper()
	m, err := NewSlidingMemory(Policy{Rate: Rate{Events: events, Window: time.Hour}, Burst: events, Algorithm: SlidingWindow},
		MemoryOptions{SweepEvery: -1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	return m
}

// BenchmarkSlidingMemoryAllow: allowed sliding window decisions on 1024
// known keys.
func BenchmarkSlidingMemoryAllow(b *testing.B) {
	m := benchSliding(b, 1<<31)
	keys := benchKeys(1024)
	ctx := context.Background()
	for _, k := range keys {
		m.Take(ctx, k)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if res, _ := m.Take(ctx, keys[i&1023]); !res.Allowed {
			b.Fatal("denied")
		}
	}
}

// BenchmarkSlidingMemoryDeny: denied sliding window decisions on an
// exhausted key (each computes the Retry-After).
func BenchmarkSlidingMemoryDeny(b *testing.B) {
	m := benchSliding(b, 1)
	ctx := context.Background()
	m.Take(ctx, "k")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if res, _ := m.Take(ctx, "k"); res.Allowed {
			b.Fatal("allowed")
		}
	}
}

// BenchmarkRedisSlidingTake: one sliding window decision = one EVALSHA
// round trip to a real redis-server on loopback.
func BenchmarkRedisSlidingTake(b *testing.B) {
	srv := testutil.StartRedis(b)
	z, _ := newRedisZoneAlg(b, redisAddr(srv), "2000000000/1h", 0, SlidingWindow, RedisOptions{Timeout: time.Second})
	ctx := context.Background()
	keys := benchKeys(1024)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := z.Take(ctx, keys[i&1023]); err != nil {
			b.Fatal(err)
		}
	}
}
