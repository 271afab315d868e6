package limiter

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/apigw/caddy-apigw/failure"
	"github.com/apigw/caddy-apigw/internal/testutil"
	"github.com/apigw/caddy-apigw/store"
)

func newRedisZone(t testing.TB, addr, rate string, burst int64, opts RedisOptions) (*Redis, redis.UniversalClient) {
	t.Helper()
	return newRedisZoneAlg(t, addr, rate, burst, GCRA, opts)
}

// newRedisStore opens the store (and its breaker) on the Redis at addr.
func newRedisStore(t testing.TB, addr, timeout string) *store.Redis {
	t.Helper()
	rs, err := store.NewRedis("redis://"+addr+"/0?timeout="+timeout+"&max_retries=-1", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rs.Close() })
	return rs
}

func newRedisZoneAlg(t testing.TB, addr, rate string, burst int64, alg Algorithm, opts RedisOptions) (*Redis, redis.UniversalClient) {
	t.Helper()
	rs := newRedisStore(t, addr, "200ms")
	r, err := ParseRate(rate)
	if err != nil {
		t.Fatal(err)
	}
	if burst == 0 {
		burst = r.Events
	}
	if opts.Prefix == "" {
		opts.Prefix = "test:rl:"
	}
	conn := NewRedisConn(rs, opts)
	t.Cleanup(func() { conn.Close() })
	z, err := conn.Zone("z", Policy{Rate: r, Burst: burst, Algorithm: alg})
	if err != nil {
		t.Fatal(err)
	}
	return z, rs.Client
}

func redisAddr(r *testutil.Redis) string { return "127.0.0.1:" + strconv.Itoa(r.Port) }

func TestRedisGCRA(t *testing.T) {
	srv := testutil.StartRedis(t)
	z, client := newRedisZone(t, redisAddr(srv), "100/1h", 0, RedisOptions{})
	ctx := context.Background()
	for i := 0; i < 100; i++ {
		res := take(t, z, "api-key-secret")
		if !res.Allowed || res.Remaining != int64(99-i) {
			t.Fatalf("request %d: %+v, want allowed with %d remaining", i+1, res, 99-i)
		}
	}
	res := take(t, z, "api-key-secret")
	if res.Allowed || res.Remaining != 0 {
		t.Fatalf("101st: %+v, want denied", res)
	}
	// one interval is 36s, minus the server time spent since the burst
	if res.RetryAfter <= 0 || res.RetryAfter > 36*time.Second {
		t.Fatalf("retry after %v, want in (0, 36s]", res.RetryAfter)
	}
	// the stored key is hashed and expires
	keys, err := client.Keys(ctx, "test:rl:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || strings.Contains(keys[0], "secret") || !strings.HasPrefix(keys[0], "test:rl:z:") {
		t.Fatalf("keys %q: want one hashed key under test:rl:z:", keys)
	}
	ttl, err := client.PTTL(ctx, keys[0]).Result()
	if err != nil || ttl <= 59*time.Minute || ttl > time.Hour+time.Second {
		t.Fatalf("key TTL %v (%v), want about 1h (until the bucket is full)", ttl, err)
	}
	// refund gives one back
	if err := z.Refund(ctx, "api-key-secret"); err != nil {
		t.Fatal(err)
	}
	if !take(t, z, "api-key-secret").Allowed {
		t.Fatal("denied after a refund")
	}
	if take(t, z, "api-key-secret").Allowed {
		t.Fatal("a refund credited more than one request")
	}
	// retry-after is exact on the server clock: a short interval
	z2, _ := newRedisZone(t, redisAddr(srv), "1/1s", 1, RedisOptions{})
	take(t, z2, "k")
	res = take(t, z2, "k")
	if res.Allowed {
		t.Fatal("second request within a second allowed with 1/1s burst 1")
	}
	time.Sleep(res.RetryAfter)
	if !take(t, z2, "k").Allowed {
		t.Fatalf("denied after sleeping the retry-after %v", res.RetryAfter)
	}
}

// Two clients (two gateway instances) hammering one key allow exactly the
// burst in total.
func TestRedisConcurrentExact(t *testing.T) {
	srv := testutil.StartRedis(t)
	a, _ := newRedisZone(t, redisAddr(srv), "50/1h", 0, RedisOptions{})
	b, _ := newRedisZone(t, redisAddr(srv), "50/1h", 0, RedisOptions{})
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

// A dead Redis gives ErrUnavailable quickly, reports the outage once, and
// the limiter recovers by itself when Redis is back.
func TestRedisOutageAndRecovery(t *testing.T) {
	srv := testutil.StartRedis(t)
	var outages, recoveries atomic.Int32
	z, _ := newRedisZone(t, redisAddr(srv), "3/1h", 0, RedisOptions{
		Timeout:   200 * time.Millisecond,
		OnOutage:  func(error) { outages.Add(1) },
		OnRecover: func() { recoveries.Add(1) },
	})
	take(t, z, "k")
	srv.Stop()
	for i := 0; i < 50; i++ {
		_, err := z.Take(context.Background(), "k")
		if !errors.Is(err, failure.ErrUnavailable) {
			t.Fatalf("take with Redis down: %v, want ErrUnavailable", err)
		}
	}
	if outages.Load() != 1 {
		t.Fatalf("%d outage reports for one outage, want 1", outages.Load())
	}
	srv.Restart(t)
	deadline := time.Now().Add(10 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		if _, err = z.Take(context.Background(), "k"); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("no recovery after Redis came back: %v", err)
	}
	if recoveries.Load() != 1 || outages.Load() != 1 {
		t.Fatalf("outages %d, recoveries %d: want 1 and 1", outages.Load(), recoveries.Load())
	}
	// the restarted Redis lost its data (no persistence): fresh bucket,
	// of which the probe above took one
	n := 0
	for take(t, z, "k").Allowed {
		n++
	}
	if n != 2 {
		t.Fatalf("%d allowed after recovery, want 2", n)
	}
}

// A Redis that accepts connections but stops answering does not stall
// requests beyond the limiter's timeout, even with a store whose own read
// timeout is a minute; then the store's breaker fails the next decisions
// at once.
func TestRedisHungServerTimesOut(t *testing.T) {
	srv := testutil.StartRedis(t)
	rs := newRedisStore(t, redisAddr(srv), "500ms") // the default store timeout
	var outages atomic.Int32
	conn := NewRedisConn(rs, RedisOptions{Timeout: 100 * time.Millisecond, OnOutage: func(error) { outages.Add(1) }})
	defer conn.Close()
	z, err := conn.Zone("z", Policy{Rate: Rate{Events: 1, Window: time.Second}, Burst: 1})
	if err != nil {
		t.Fatal(err)
	}
	// the server stops answering every other client for 3s
	testutil.RedisCommand(t, srv.Port, "CLIENT", "PAUSE", "3000", "ALL")
	start := time.Now()
	_, err = z.Take(context.Background(), "k")
	if !errors.Is(err, failure.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("take on a hung server: %v, want ErrUnavailable from the limiter's own deadline", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("take on a hung server took %s, want about the limiter's 100ms", d)
	}
	// the limiter's own deadline does not mark the store down by itself:
	// the store's probe does, when Redis does not answer a PING within
	// the store's timeout either; from then on, calls fail at once
	// without touching Redis
	deadline := time.Now().Add(2500 * time.Millisecond)
	for {
		_, err := z.Take(context.Background(), "k")
		if !errors.Is(err, failure.ErrUnavailable) {
			t.Fatalf("take during the outage: %v, want ErrUnavailable", err)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			break // failed fast: the breaker is open
		}
		if time.Now().After(deadline) {
			t.Fatal("the store's breaker never opened on a hung server")
		}
	}
	if outages.Load() != 1 {
		t.Fatalf("%d outage reports, want 1", outages.Load())
	}
}

// TestRedisSlowServerDoesNotTripStore: Redis answering slower than the
// limiter's budget but within the store's timeout times the decision out
// (the zone's fail policy applies) without marking the store down for
// every other user of it (sessions, keys): the probe finds Redis alive.
func TestRedisSlowServerDoesNotTripStore(t *testing.T) {
	srv := testutil.StartRedis(t)
	rs := newRedisStore(t, redisAddr(srv), "500ms") // the default store timeout
	var outages atomic.Int32
	conn := NewRedisConn(rs, RedisOptions{Timeout: 100 * time.Millisecond, OnOutage: func(error) { outages.Add(1) }})
	defer conn.Close()
	z, err := conn.Zone("z", Policy{Rate: Rate{Events: 1000, Window: time.Second}, Burst: 1000})
	if err != nil {
		t.Fatal(err)
	}
	// a pause shorter than the store's timeout (500ms): slow, not gone
	testutil.RedisCommand(t, srv.Port, "CLIENT", "PAUSE", "300", "ALL")
	if _, err := z.Take(context.Background(), "k"); !errors.Is(err, failure.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("take on a paused server: %v, want ErrUnavailable from the limiter's own deadline", err)
	}
	// after the probe's first PING (one store timeout later) Redis is
	// known alive, and it never was marked down
	time.Sleep(1200 * time.Millisecond)
	if !rs.Healthy() || outages.Load() != 0 {
		t.Fatalf("store healthy %v, %d outage reports: a slow answer marked the store down", rs.Healthy(), outages.Load())
	}
	if res, err := z.Take(context.Background(), "k"); err != nil || !res.Allowed {
		t.Fatalf("take after the pause: %+v, %v", res, err)
	}
}
