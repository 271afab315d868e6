package limiter

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a manual monotonic clock in nanoseconds.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) now() int64              { return c.ns.Load() }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func newTestMemory(t testing.TB, rate string, burst int64, opts MemoryOptions) (*Memory, *fakeClock) {
	t.Helper()
	r, err := ParseRate(rate)
	if err != nil {
		t.Fatal(err)
	}
	if burst == 0 {
		burst = r.Events
	}
	clk := new(fakeClock)
	clk.ns.Store(int64(time.Hour)) // arbitrary origin
	opts.Clock = clk.now
	if opts.SweepEvery == 0 {
		opts.SweepEvery = -1
	}
	m, err := NewMemory(Policy{Rate: r, Burst: burst}, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m, clk
}

func take(t testing.TB, l Limiter, key string) Result {
	t.Helper()
	res, err := l.Take(context.Background(), key)
	if err != nil {
		t.Fatalf("take %q: %v", key, err)
	}
	return res
}

func TestParseRate(t *testing.T) {
	for _, tc := range []struct {
		in      string
		events  int64
		window  time.Duration
		wantErr bool
	}{
		{in: "100/1m", events: 100, window: time.Minute},
		{in: "5/15m", events: 5, window: 15 * time.Minute},
		{in: "10/s", events: 10, window: time.Second},
		{in: "1000/h", events: 1000, window: time.Hour},
		{in: "50000/1d", events: 50000, window: 24 * time.Hour},
		{in: " 7 / 30s ", events: 7, window: 30 * time.Second},
		{in: "0/1m", wantErr: true},
		{in: "-5/1m", wantErr: true},
		{in: "5/0s", wantErr: true},
		{in: "5/-1m", wantErr: true},
		{in: "100", wantErr: true},
		{in: "abc/1m", wantErr: true},
		{in: "5/fortnight", wantErr: true},
		{in: "", wantErr: true},
		{in: "2000000/1s", wantErr: true}, // finer than 1µs per event
	} {
		t.Run(tc.in, func(t *testing.T) {
			r, err := ParseRate(tc.in)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("ParseRate(%q) = %v, want error", tc.in, r)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Events != tc.events || r.Window != tc.window {
				t.Fatalf("ParseRate(%q) = %d/%v, want %d/%v", tc.in, r.Events, r.Window, tc.events, tc.window)
			}
		})
	}
}

func TestGCRABurstThenRate(t *testing.T) {
	m, clk := newTestMemory(t, "100/1m", 0, MemoryOptions{})
	for i := 0; i < 100; i++ {
		res := take(t, m, "k")
		if !res.Allowed {
			t.Fatalf("request %d denied", i+1)
		}
		if want := int64(99 - i); res.Remaining != want {
			t.Fatalf("request %d: remaining %d, want %d", i+1, res.Remaining, want)
		}
		if want := time.Duration(i+1) * 600 * time.Millisecond; res.Reset != want {
			t.Fatalf("request %d: reset %v, want %v", i+1, res.Reset, want)
		}
	}
	res := take(t, m, "k")
	if res.Allowed || res.Remaining != 0 {
		t.Fatalf("101st: %+v, want denied", res)
	}
	if res.RetryAfter != 600*time.Millisecond {
		t.Fatalf("101st: retry after %v, want 600ms (one emission interval)", res.RetryAfter)
	}
	// other keys are independent
	if !take(t, m, "other").Allowed {
		t.Fatal("another key was denied")
	}
	clk.advance(600*time.Millisecond - 1)
	if take(t, m, "k").Allowed {
		t.Fatal("allowed 1ns before retry-after elapsed")
	}
	clk.advance(1)
	if !take(t, m, "k").Allowed {
		t.Fatal("denied after retry-after elapsed")
	}
	if take(t, m, "k").Allowed {
		t.Fatal("one interval refilled more than one request")
	}
}

func TestBurstSmallerThanEvents(t *testing.T) {
	m, clk := newTestMemory(t, "100/1m", 10, MemoryOptions{})
	n := 0
	for take(t, m, "k").Allowed {
		n++
	}
	if n != 10 {
		t.Fatalf("burst: %d allowed at once, want 10", n)
	}
	// then exactly one per 600ms
	for i := 0; i < 20; i++ {
		clk.advance(600 * time.Millisecond)
		if !take(t, m, "k").Allowed {
			t.Fatalf("step %d: denied after one interval", i)
		}
		if take(t, m, "k").Allowed {
			t.Fatalf("step %d: two requests in one interval", i)
		}
	}
}

// Waiting exactly RetryAfter (or the ceil-seconds a client sees) is always
// enough, and waiting less is not.
func TestRetryAfterExact(t *testing.T) {
	for _, tc := range []struct {
		rate  string
		burst int64
	}{
		{"100/1m", 0}, {"5/15m", 0}, {"7/1h", 3}, {"3/1s", 1}, {"1000/1d", 0},
	} {
		t.Run(tc.rate, func(t *testing.T) {
			m, clk := newTestMemory(t, tc.rate, tc.burst, MemoryOptions{})
			for round := 0; round < 20; round++ {
				var res Result
				for res = take(t, m, "k"); res.Allowed; res = take(t, m, "k") {
				}
				if res.RetryAfter <= 0 {
					t.Fatalf("denied with retry after %v", res.RetryAfter)
				}
				clk.advance(res.RetryAfter - 1)
				if take(t, m, "k").Allowed {
					t.Fatal("allowed before retry-after")
				}
				clk.advance(1)
				if !take(t, m, "k").Allowed {
					t.Fatal("denied after exactly retry-after")
				}
				// a client rounding up to whole seconds is allowed too
				for take(t, m, "k").Allowed {
				}
				res = take(t, m, "k")
				secs := (res.RetryAfter + time.Second - 1) / time.Second * time.Second
				clk.advance(secs)
				if !take(t, m, "k").Allowed {
					t.Fatal("denied after ceil-seconds retry-after")
				}
				clk.advance(time.Duration(round) * 37 * time.Millisecond)
			}
		})
	}
}

// A fixed window would admit 2×limit around a window boundary; GCRA
// admits at most burst + span/interval in any span.
func TestNoDoubleBurstAtWindowEdge(t *testing.T) {
	m, clk := newTestMemory(t, "100/1m", 0, MemoryOptions{})
	clk.advance(59900 * time.Millisecond) // "end of a minute"
	n := 0
	for take(t, m, "k").Allowed {
		n++
	}
	if n != 100 {
		t.Fatalf("%d allowed at the first edge, want 100", n)
	}
	clk.advance(200 * time.Millisecond) // "start of the next minute"
	for take(t, m, "k").Allowed {
		n++
	}
	if n != 100 {
		t.Fatalf("%d allowed across the window edge within 200ms, want 100", n)
	}

	// A client firing every 10ms for 5 minutes: count the admitted
	// requests in every 60s span.
	m2, clk2 := newTestMemory(t, "100/1m", 0, MemoryOptions{})
	var admitted []time.Duration
	start := clk2.now()
	for i := 0; i < 30000; i++ {
		if take(t, m2, "k").Allowed {
			admitted = append(admitted, time.Duration(clk2.now()-start))
		}
		clk2.advance(10 * time.Millisecond)
	}
	for i := range admitted {
		j := i
		for j < len(admitted) && admitted[j]-admitted[i] < time.Minute {
			j++
		}
		if n := j - i; n > 200 {
			t.Fatalf("%d requests admitted in the minute after %v (burst 100 + 100/min allows at most 200)", n, admitted[i])
		}
		k := i
		for k < len(admitted) && admitted[k]-admitted[i] < time.Second {
			k++
		}
		if n := k - i; n > 100 && i > 0 {
			t.Fatalf("%d requests admitted within 1s after %v, past the initial burst", n, admitted[i])
		}
	}
	// long-run rate: 100 burst + 100/min over 5 minutes
	if n := len(admitted); n < 595 || n > 601 {
		t.Fatalf("%d admitted in 5 minutes, want about 600", n)
	}
}

func TestRefund(t *testing.T) {
	m, clk := newTestMemory(t, "5/15m", 0, MemoryOptions{})
	for i := 0; i < 5; i++ {
		take(t, m, "ip")
	}
	if take(t, m, "ip").Allowed {
		t.Fatal("6th allowed")
	}
	if err := m.Refund(context.Background(), "ip"); err != nil {
		t.Fatal(err)
	}
	if res := take(t, m, "ip"); !res.Allowed || res.Remaining != 0 {
		t.Fatalf("after refund: %+v, want allowed with 0 remaining", res)
	}
	// refunding an unknown or idle key changes nothing
	if err := m.Refund(context.Background(), "nobody"); err != nil {
		t.Fatal(err)
	}
	if res := take(t, m, "nobody"); res.Remaining != 4 {
		t.Fatalf("refund of an unknown key credited it: %+v", res)
	}
	// a refund never credits more than the bucket holds
	clk.advance(time.Hour)
	m.Refund(context.Background(), "ip")
	m.Refund(context.Background(), "ip")
	n := 0
	for take(t, m, "ip").Allowed {
		n++
	}
	if n != 5 {
		t.Fatalf("%d allowed after refunds of an idle key, want 5", n)
	}
}

func TestMemoryBounded(t *testing.T) {
	var full atomic.Int32
	m, clk := newTestMemory(t, "10/1m", 0, MemoryOptions{MaxKeys: 1000, OnFull: func() { full.Add(1) }})
	// a flood of a million distinct keys
	for i := 0; i < 1_000_000; i++ {
		take(t, m, "k"+strconv.Itoa(i))
	}
	if n, c := m.Len(), m.Cap(); n > c || c > 1100 {
		t.Fatalf("len %d, cap %d after a flood: want len <= cap ≈ 1000", n, c)
	}
	if full.Load() != 1 {
		t.Fatalf("OnFull called %d times, want once", full.Load())
	}
	// idle keys are swept
	clk.advance(time.Minute)
	m.Sweep()
	if n := m.Len(); n != 0 {
		t.Fatalf("%d keys left after they all went idle", n)
	}
}

func TestEvictionPrefersIdle(t *testing.T) {
	m, clk := newTestMemory(t, "10/1m", 0, MemoryOptions{MaxKeys: 16, Shards: 1})
	// a busy key, exhausted
	for take(t, m, "busy").Allowed {
	}
	clk.advance(time.Second)
	// 15 one-request keys that go idle after 6s
	for i := 0; i < 15; i++ {
		take(t, m, "idle"+strconv.Itoa(i))
	}
	clk.advance(10 * time.Second)
	// the shard is full; new keys must evict idle ones, not "busy"
	for i := 0; i < 15; i++ {
		take(t, m, "new"+strconv.Itoa(i))
	}
	if res := take(t, m, "busy"); res.Remaining != 0 {
		t.Fatalf("the exhausted key was evicted while idle keys were available: %+v", res)
	}
}

func TestMemoryConcurrentExact(t *testing.T) {
	m, _ := newTestMemory(t, "500/1h", 0, MemoryOptions{})
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				if take(t, m, "shared").Allowed {
					allowed.Add(1)
				}
				take(t, m, "own"+strconv.Itoa(g))
				if i%10 == 0 {
					m.Refund(context.Background(), "own"+strconv.Itoa(g))
				}
			}
		}(g)
	}
	wg.Add(1)
	go func() { defer wg.Done(); m.Sweep(); _ = m.Len() }()
	wg.Wait()
	if n := allowed.Load(); n != 500 {
		t.Fatalf("%d allowed by 8 concurrent clients, want exactly 500", n)
	}
}

func TestPolicyValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    Policy
		ok   bool
	}{
		{"ok", Policy{Rate: Rate{Events: 100, Window: time.Minute}, Burst: 100}, true},
		{"zero events", Policy{Rate: Rate{Events: 0, Window: time.Minute}, Burst: 1}, false},
		{"negative window", Policy{Rate: Rate{Events: 1, Window: -time.Minute}, Burst: 1}, false},
		{"zero burst", Policy{Rate: Rate{Events: 1, Window: time.Minute}, Burst: 0}, false},
		{"huge burst", Policy{Rate: Rate{Events: 1, Window: time.Hour}, Burst: 1 << 40}, false},
		{"sliding ok", Policy{Rate: Rate{Events: 100, Window: time.Minute}, Burst: 100, Algorithm: SlidingWindow}, true},
		{"sliding burst differs", Policy{Rate: Rate{Events: 100, Window: time.Minute}, Burst: 50, Algorithm: SlidingWindow}, false},
		{"sliding too many events", Policy{Rate: Rate{Events: 1 << 33, Window: 24 * time.Hour}, Burst: 1 << 33, Algorithm: SlidingWindow}, false},
		{"unknown algorithm", Policy{Rate: Rate{Events: 100, Window: time.Minute}, Burst: 100, Algorithm: "leaky"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.p.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tc.ok)
			}
			m, err := NewMemoryTable(tc.p, MemoryOptions{SweepEvery: -1})
			if (err == nil) != tc.ok {
				t.Fatalf("NewMemoryTable() = %v, want ok=%v", err, tc.ok)
			}
			if err == nil {
				m.Close()
			}
		})
	}
}
