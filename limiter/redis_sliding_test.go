package limiter

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apigw/caddy-apigw/internal/testutil"
)

func TestRedisSlidingWindow(t *testing.T) {
	srv := testutil.StartRedis(t)
	ctx := context.Background()
	// a 1h window: the test cannot straddle enough of a boundary for the
	// previous window's weight to drop by one event
	z, client := newRedisZoneAlg(t, redisAddr(srv), "100/1h", 0, SlidingWindow, RedisOptions{})
	for i := 0; i < 100; i++ {
		res := take(t, z, "api-key-secret")
		if !res.Allowed || res.Remaining != int64(99-i) {
			t.Fatalf("request %d: %+v, want allowed with %d remaining", i+1, res, 99-i)
		}
		if res.Reset <= 0 || res.Reset > 2*time.Hour {
			t.Fatalf("request %d: reset %v, want the next unit within two windows", i+1, res.Reset)
		}
	}
	res := take(t, z, "api-key-secret")
	if res.Allowed || res.Remaining != 0 || res.RetryAfter <= 0 || res.RetryAfter > 2*time.Hour {
		t.Fatalf("101st: %+v, want denied with a Retry-After within two windows", res)
	}
	keys, err := client.Keys(ctx, "test:rl:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || strings.Contains(keys[0], "secret") || !strings.HasPrefix(keys[0], "test:rl:z:") {
		t.Fatalf("keys %q: want one hashed key under test:rl:z:", keys)
	}
	ttl, err := client.PTTL(ctx, keys[0]).Result()
	if err != nil || ttl <= time.Hour || ttl > 2*time.Hour {
		t.Fatalf("key TTL %v (%v), want in (1h, 2h]: until the end of the next window", ttl, err)
	}
	// refund gives one back, once
	if err := z.Refund(ctx, "api-key-secret"); err != nil {
		t.Fatal(err)
	}
	if !take(t, z, "api-key-secret").Allowed {
		t.Fatal("denied after a refund")
	}
	if take(t, z, "api-key-secret").Allowed {
		t.Fatal("a refund credited more than one request")
	}
	// refunds never make counts negative, and an empty key is deleted
	z3, _ := newRedisZoneAlg(t, redisAddr(srv), "3/1h", 0, SlidingWindow, RedisOptions{Prefix: "test:rl3:"})
	take(t, z3, "k")
	for i := 0; i < 3; i++ {
		if err := z3.Refund(ctx, "k"); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := client.Keys(ctx, "test:rl3:*").Result(); len(n) != 0 {
		t.Fatalf("keys %q left after refunding everything", n)
	}
	for i := 0; i < 3; i++ {
		if !take(t, z3, "k").Allowed {
			t.Fatalf("request %d denied after extra refunds", i+1)
		}
	}
	if take(t, z3, "k").Allowed {
		t.Fatal("4th allowed: extra refunds credited the key")
	}
	// Retry-After is exact on the server clock: waiting it out is enough
	z2, _ := newRedisZoneAlg(t, redisAddr(srv), "2/1s", 0, SlidingWindow, RedisOptions{Prefix: "test:rl2:"})
	for take(t, z2, "k").Allowed {
	}
	res = take(t, z2, "k")
	if res.Allowed || res.RetryAfter <= 0 || res.RetryAfter > 2*time.Second {
		t.Fatalf("exhausted 2/1s key: %+v", res)
	}
	time.Sleep(res.RetryAfter)
	if r := take(t, z2, "k"); !r.Allowed {
		t.Fatalf("denied after sleeping the retry-after %v: %+v", res.RetryAfter, r)
	}
}

// Two clients (two gateway instances) hammering one key allow exactly the
// limit in total.
func TestRedisSlidingConcurrentExact(t *testing.T) {
	srv := testutil.StartRedis(t)
	a, _ := newRedisZoneAlg(t, redisAddr(srv), "50/1h", 0, SlidingWindow, RedisOptions{})
	b, _ := newRedisZoneAlg(t, redisAddr(srv), "50/1h", 0, SlidingWindow, RedisOptions{})
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(l Limiter) {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				res, err := l.Take(context.Background(), "shared")
				if err != nil {
					t.Error(err)
					return
				}
				if res.Allowed {
					allowed.Add(1)
				}
			}
		}(map[bool]Limiter{true: a, false: b}[g%2 == 0])
	}
	wg.Wait()
	if n := allowed.Load(); n != 50 {
		t.Fatalf("%d allowed across two clients, want exactly 50", n)
	}
}
