package limiter

import (
	"context"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/apigw/caddy-apigw/internal/testutil"
)

// TestRedisSlidingMirrorsGo runs the sliding window Lua script on a real
// redis-server with the clock replaced by an argument, and checks that
// every decision (allowed, remaining, retry-after, reset) equals the Go
// implementation's, in microseconds, over random take/refund sequences.
func TestRedisSlidingMirrorsGo(t *testing.T) {
	const clockLines = "local t = redis.call('TIME')\nlocal now = tonumber(t[1]) * 1000000 + tonumber(t[2])"
	if !strings.Contains(slidingLua, clockLines) {
		t.Fatal("the script's clock lines changed; update this test")
	}
	script := redis.NewScript(strings.Replace(slidingLua, clockLines, "local now = tonumber(ARGV[4])", 1))
	srv := testutil.StartRedis(t)
	client := redis.NewClient(&redis.Options{Addr: redisAddr(srv)})
	t.Cleanup(func() { client.Close() })
	ctx := context.Background()

	for _, tc := range []struct {
		name string
		w, l int64 // µs, events
		step int64 // mean µs between operations
	}{
		{"100/1m", 60_000_000, 100, 400_000},
		{"5/15m", 900_000_000, 5, 120_000_000},
		{"10/s", 1_000_000, 10, 70_000},
		{"1/1h", 3_600_000_000, 1, 900_000_000},
		{"7/3s", 3_000_000, 7, 900_000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(tc.w), uint64(tc.l)))
			key := "mirror:" + tc.name
			now := int64(1_795_000_000_000_000) + rng.Int64N(tc.w) // Unix µs
			var st swState
			stored := false
			for i := 0; i < 600; i++ {
				now += rng.Int64N(2 * tc.step)
				k := now / tc.w
				mode := "take"
				if rng.IntN(5) == 0 {
					mode = "refund"
				}
				got, err := script.Run(ctx, client, []string{key}, strconv.FormatInt(tc.w, 10), strconv.FormatInt(tc.l, 10),
					mode, strconv.FormatInt(now, 10)).Int64Slice()
				if err != nil {
					t.Fatal(err)
				}
				if !stored {
					st = swState{idx: k}
				}
				var want []int64
				if mode == "refund" {
					if stored {
						st = swRefund(swAlign(st.idx, st.prev, st.curr, k), st.idx)
						stored = st.prev > 0 || st.curr > 0
					}
					want = []int64{1, 0, 0, 0}
				} else {
					// like SlidingMemory and the script, only an allowed take
					// stores the new state
					next, allowed, rem, retry, reset := swTake(swAlign(st.idx, st.prev, st.curr, k), now, tc.w, tc.l)
					a := int64(0)
					if allowed {
						a = 1
						st, stored = next, true
					}
					want = []int64{a, rem, retry, reset}
				}
				if len(got) != 4 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] || got[3] != want[3] {
					t.Fatalf("op %d %s at +%dµs in window: redis %v, go %v (state %+v)", i, mode, now%tc.w, got, want, st)
				}
			}
		})
	}
}
