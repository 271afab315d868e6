package limiter

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/apigw/caddy-apigw/internal/testutil"
)

func TestParseCalendarRate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Rate
	}{
		{"10000/calendar_day", Rate{Events: 10000, Window: 24 * time.Hour, Calendar: CalendarDay}},
		{"5/calendar_month", Rate{Events: 5, Window: 30 * 24 * time.Hour, Calendar: CalendarMonth}},
	} {
		r, err := ParseRate(tc.in)
		if err != nil || r != tc.want || r.String() != tc.in {
			t.Errorf("ParseRate(%q) = %+v (%s), %v", tc.in, r, r, err)
		}
	}
	p := Policy{Rate: Rate{Events: 3, Window: 24 * time.Hour, Calendar: CalendarDay}, Burst: 3, Algorithm: SlidingWindow}
	if p.Validate() == nil {
		t.Error("a calendar rate with algorithm sliding_window validated")
	}
	p = Policy{Rate: Rate{Events: 3, Window: 24 * time.Hour, Calendar: CalendarDay}, Burst: 5}
	if p.Validate() == nil {
		t.Error("a calendar rate with a burst validated")
	}
}

// TestCalendarMemory crosses UTC day and month boundaries (31-day months,
// a leap February, a year end) on a fake clock.
func TestCalendarMemory(t *testing.T) {
	for _, tc := range []struct {
		name      string
		rate      string
		start     time.Time // a moment within a period
		periodEnd time.Time
	}{
		{"day", "3/calendar_day", time.Date(2026, 12, 31, 23, 59, 58, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"month end of year", "3/calendar_month", time.Date(2026, 12, 15, 12, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"leap february", "3/calendar_month", time.Date(2028, 2, 29, 23, 0, 0, 0, time.UTC), time.Date(2028, 3, 1, 0, 0, 0, 0, time.UTC)},
		{"31-day month", "3/calendar_month", time.Date(2027, 1, 31, 0, 0, 0, 0, time.UTC), time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseRate(tc.rate)
			if err != nil {
				t.Fatal(err)
			}
			clk := new(fakeClock)
			clk.ns.Store(tc.start.UnixNano())
			m, err := NewMemoryTable(Policy{Rate: r, Burst: r.Events}, MemoryOptions{Clock: clk.now, SweepEvery: -1})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			ctx := context.Background()
			left := tc.periodEnd.Sub(tc.start)
			for i := int64(0); i < 3; i++ {
				res, _ := m.Take(ctx, "k")
				if !res.Allowed || res.Remaining != 2-i || res.Reset != left {
					t.Fatalf("take %d: %+v, want allowed, %d remaining, reset %v", i+1, res, 2-i, left)
				}
			}
			res, _ := m.Take(ctx, "k")
			if res.Allowed || res.RetryAfter != left {
				t.Fatalf("4th take: %+v, want denied until the period ends (%v)", res, left)
			}
			// a refund gives one back within the period
			_ = m.Refund(ctx, "k")
			if res, _ := m.Take(ctx, "k"); !res.Allowed || res.Remaining != 0 {
				t.Fatalf("take after refund: %+v", res)
			}
			clk.ns.Store(tc.periodEnd.UnixNano() - 1)
			if res, _ := m.Take(ctx, "k"); res.Allowed || res.RetryAfter != 1 {
				t.Fatalf("1ns before the period ends: %+v", res)
			}
			clk.ns.Store(tc.periodEnd.UnixNano())
			if res, _ := m.Take(ctx, "k"); !res.Allowed || res.Remaining != 2 {
				t.Fatalf("at the new period: %+v, want the whole quota back", res)
			}
			if got := string(m.Policy().AppendServiceLimit(nil, "q", Result{Allowed: true, Remaining: 2, Reset: 90 * time.Minute})); got != `"q";r=2;t=5400` {
				t.Fatalf("RateLimit item %s", got)
			}
		})
	}
}

// TestRedisCalendarMirrorsGo runs the calendar Lua script on a real
// redis-server with the clock replaced by an argument, for instants
// around every month boundary of 2026-2029 (leap year 2028 included), and
// checks that its period end equals Go's.
func TestRedisCalendarMirrorsGo(t *testing.T) {
	const clockLines = "local t = redis.call('TIME')\nlocal sec = tonumber(t[1])\nlocal now = sec * 1000000 + tonumber(t[2])"
	if !strings.Contains(calendarLua, clockLines) {
		t.Fatal("the script's clock lines changed; update this test")
	}
	script := redis.NewScript(strings.Replace(calendarLua, clockLines, "local sec = tonumber(ARGV[4])\nlocal now = sec * 1000000", 1))
	srv := testutil.StartRedis(t)
	client := redis.NewClient(&redis.Options{Addr: redisAddr(srv)})
	t.Cleanup(func() { client.Close() })
	ctx := context.Background()
	n := 0
	for y := 2026; y <= 2029; y++ {
		for m := time.January; m <= time.December; m++ {
			start := time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
			for _, at := range []time.Time{start.Add(-time.Second), start, start.Add(36 * time.Hour)} {
				for _, period := range []string{"day", "month"} {
					cal := CalendarDay
					if period == "month" {
						cal = CalendarMonth
					}
					_, end := cal.period(at.UnixNano())
					key := "cal:" + strconv.Itoa(n)
					n++
					v, err := script.Run(ctx, client, []string{key}, period, "5", "take", strconv.FormatInt(at.Unix(), 10)).Int64Slice()
					if err != nil {
						t.Fatal(err)
					}
					if want := (end - at.UnixNano()) / 1000; v[0] != 1 || v[1] != 4 || v[3] != want {
						t.Fatalf("%s %s: script %v, want reset %d µs (period end %s)", period, at, v, want, time.Unix(0, end).UTC())
					}
				}
			}
		}
	}
}

// TestRedisCalendar counts on the real clock of a real redis-server.
func TestRedisCalendar(t *testing.T) {
	srv := testutil.StartRedis(t)
	z, _ := newRedisZoneAlg(t, redisAddr(srv), "3/calendar_day", 0, GCRA, RedisOptions{})
	for i := 0; i < 3; i++ {
		res := take(t, z, "k")
		_, end := CalendarDay.period(time.Now().UnixNano())
		if left := time.Duration(end - time.Now().UnixNano()); !res.Allowed || res.Remaining != int64(2-i) || res.Reset > left+2*time.Second || res.Reset < left-2*time.Second {
			t.Fatalf("take %d: %+v, want allowed, %d remaining, reset ≈ %v", i+1, res, 2-i, left)
		}
	}
	if res := take(t, z, "k"); res.Allowed || res.RetryAfter <= 0 {
		t.Fatalf("4th take: %+v", res)
	}
	if err := z.Refund(context.Background(), "k"); err != nil {
		t.Fatal(err)
	}
	if res := take(t, z, "k"); !res.Allowed {
		t.Fatalf("take after refund: %+v", res)
	}
}
