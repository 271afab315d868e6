package limiter

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func newTestSliding(t testing.TB, rate string, opts MemoryOptions) (*SlidingMemory, *fakeClock) {
	t.Helper()
	r, err := ParseRate(rate)
	if err != nil {
		t.Fatal(err)
	}
	clk := new(fakeClock)
	clk.ns.Store(int64(24 * time.Hour)) // a window boundary for every rate below
	opts.Clock = clk.now
	if opts.SweepEvery == 0 {
		opts.SweepEvery = -1
	}
	m, err := NewSlidingMemory(Policy{Rate: r, Burst: r.Events, Algorithm: SlidingWindow}, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m, clk
}

var slidingRates = []string{"100/1m", "5/15m", "10/s", "1/1h", "3/2s", "1000/1d"}

// TestSlidingExactFirstWindow: N requests spread evenly over the whole
// first window (slower than any GCRA refill would need) all pass, and the
// (N+1)th, still in that window, is denied.
func TestSlidingExactFirstWindow(t *testing.T) {
	for _, rate := range slidingRates {
		t.Run(rate, func(t *testing.T) {
			m, clk := newTestSliding(t, rate, MemoryOptions{})
			n, w := m.policy.Rate.Events, m.policy.Rate.Window
			step := w / time.Duration(n+1)
			for i := int64(0); i < n; i++ {
				res := take(t, m, "k")
				if !res.Allowed {
					t.Fatalf("request %d of %d denied: %+v", i+1, n, res)
				}
				if want := n - i - 1; res.Remaining != want {
					t.Fatalf("request %d: remaining %d, want %d", i+1, res.Remaining, want)
				}
				// nothing weighs from a previous window: the next unit comes
				// back only after this window ends, within the next one
				if elapsed := time.Duration(i) * step; res.Reset < w-elapsed || res.Reset > 2*w-elapsed {
					t.Fatalf("request %d: reset %v, want the next unit within (%v, %v]", i+1, res.Reset, w-elapsed, 2*w-elapsed)
				}
				clk.advance(step)
			}
			res := take(t, m, "k")
			if res.Allowed || res.Remaining != 0 || res.RetryAfter <= 0 {
				t.Fatalf("request %d in the first window: %+v, want denied with a Retry-After", n+1, res)
			}
			// other keys are independent
			if !take(t, m, "other").Allowed {
				t.Fatal("another key was denied")
			}
		})
	}
}

// TestSlidingRetryAfterExact: for many states, waiting RetryAfter − 1ns
// is still denied, RetryAfter is allowed, and so is its ceiling in whole
// seconds (what the Retry-After header carries).
func TestSlidingRetryAfterExact(t *testing.T) {
	for _, rate := range slidingRates {
		for _, offset := range []float64{0, 0.1, 0.5, 0.93} {
			for _, prevShare := range []float64{0, 0.3, 1} {
				name := rate + "/offset" + strconv.FormatFloat(offset, 'f', -1, 64) + "/prev" + strconv.FormatFloat(prevShare, 'f', -1, 64)
				t.Run(name, func(t *testing.T) {
					for _, wait := range []string{"exact", "minus1ns", "ceilsec"} {
						m, clk := newTestSliding(t, rate, MemoryOptions{})
						n, w := m.policy.Rate.Events, m.policy.Rate.Window
						// previous window: prevShare·n events, then move into the
						// next window by offset·w and exhaust the key
						for i := 0; i < int(prevShare*float64(n)); i++ {
							take(t, m, "k")
						}
						clk.advance(w + time.Duration(offset*float64(w)))
						var res Result
						for res = take(t, m, "k"); res.Allowed; res = take(t, m, "k") {
							if res.Remaining == 0 && res.Reset <= 0 {
								t.Fatalf("last unit taken but Reset %v", res.Reset)
							}
						}
						if res.RetryAfter <= 0 {
							t.Fatalf("denied with RetryAfter %v", res.RetryAfter)
						}
						switch wait {
						case "exact":
							clk.advance(res.RetryAfter)
							if r := take(t, m, "k"); !r.Allowed {
								t.Fatalf("denied after waiting RetryAfter %v: %+v", res.RetryAfter, r)
							}
						case "minus1ns":
							clk.advance(res.RetryAfter - 1)
							if r := take(t, m, "k"); r.Allowed {
								t.Fatalf("allowed 1ns before RetryAfter %v", res.RetryAfter)
							}
						case "ceilsec":
							clk.advance((res.RetryAfter + time.Second - 1) / time.Second * time.Second)
							if r := take(t, m, "k"); !r.Allowed {
								t.Fatalf("denied after waiting ceil(RetryAfter %v)", res.RetryAfter)
							}
						}
					}
				})
			}
		}
	}
}

// TestSlidingNoDoubleBurst: a client exhausting the key at the end of a
// window gets nothing more at the start of the next, and a client firing
// every 10ms for 5 minutes never gets 2N within any window length.
func TestSlidingNoDoubleBurst(t *testing.T) {
	m, clk := newTestSliding(t, "100/1m", MemoryOptions{})
	clk.advance(59900 * time.Millisecond)
	n := 0
	for take(t, m, "k").Allowed {
		n++
	}
	clk.advance(200 * time.Millisecond)
	for take(t, m, "k").Allowed {
		n++
	}
	if n != 100 {
		t.Fatalf("%d allowed across the window edge within 200ms, want 100", n)
	}

	for _, period := range []time.Duration{10 * time.Millisecond, 333 * time.Millisecond, 700 * time.Millisecond} {
		t.Run("every "+period.String(), func(t *testing.T) {
			m2, clk2 := newTestSliding(t, "100/1m", MemoryOptions{})
			clk2.advance(17 * time.Second) // not aligned on a window
			var admitted []time.Duration
			start := clk2.now()
			sent := 0
			for d := time.Duration(0); d < 5*time.Minute; d += period {
				sent++
				if take(t, m2, "k").Allowed {
					admitted = append(admitted, time.Duration(clk2.now()-start))
				}
				clk2.advance(period)
			}
			maxSpan := 0
			for i := range admitted {
				j := i
				for j < len(admitted) && admitted[j]-admitted[i] < time.Minute {
					j++
				}
				maxSpan = max(maxSpan, j-i)
			}
			// the estimate can admit more than N in a minute straddling a
			// boundary (128 for a client firing every 10ms), never 2N
			if maxSpan >= 200 {
				t.Fatalf("%d admitted within one minute, want < 200", maxSpan)
			}
			// the long-run rate is 100 per minute (first partial window aside)
			if n := len(admitted); n < min(sent, 480) || n > 600 {
				t.Fatalf("%d admitted in 5 minutes at one request per %v, want 100/min", n, period)
			}
		})
	}
}

func TestSlidingRefund(t *testing.T) {
	ctx := context.Background()
	m, clk := newTestSliding(t, "5/15m", MemoryOptions{})
	for i := 0; i < 5; i++ {
		take(t, m, "ip")
	}
	if take(t, m, "ip").Allowed {
		t.Fatal("6th allowed")
	}
	if err := m.Refund(ctx, "ip"); err != nil {
		t.Fatal(err)
	}
	if res := take(t, m, "ip"); !res.Allowed || res.Remaining != 0 {
		t.Fatalf("after refund: %+v, want allowed with 0 remaining", res)
	}
	// unknown key: nothing credited, nothing stored
	m.Refund(ctx, "nobody")
	if res := take(t, m, "nobody"); res.Remaining != 4 {
		t.Fatalf("refund of an unknown key credited it: %+v", res)
	}
	// counts never go below zero
	m2, _ := newTestSliding(t, "5/15m", MemoryOptions{})
	take(t, m2, "k")
	for i := 0; i < 3; i++ {
		m2.Refund(ctx, "k")
	}
	if n := m2.Len(); n != 0 {
		t.Fatalf("%d keys after refunding everything, want 0", n)
	}
	n := 0
	for take(t, m2, "k").Allowed {
		n++
	}
	if n != 5 {
		t.Fatalf("%d allowed after extra refunds, want 5", n)
	}

	// a refund after the window rolled over comes off the previous count
	m3, clk3 := newTestSliding(t, "5/15m", MemoryOptions{})
	for i := 0; i < 5; i++ {
		take(t, m3, "k")
	}
	clk3.advance(15 * time.Minute) // next window, elapsed 0: prev 5 weighs fully
	if take(t, m3, "k").Allowed {
		t.Fatal("allowed at the start of the next window with a full previous window")
	}
	m3.Refund(ctx, "k") // the reservation made in the previous window
	if res := take(t, m3, "k"); !res.Allowed {
		t.Fatalf("refund after rollover did not give back the previous window's event: %+v", res)
	}
	// a refund two windows later changes nothing
	clk.advance(45 * time.Minute)
	m.Refund(ctx, "ip")
	n = 0
	for take(t, m, "ip").Allowed {
		n++
	}
	if n != 5 {
		t.Fatalf("%d allowed after a stale refund, want 5", n)
	}
}

func TestSlidingBoundedAndSweep(t *testing.T) {
	var full atomic.Int32
	m, clk := newTestSliding(t, "10/1m", MemoryOptions{MaxKeys: 1000, OnFull: func() { full.Add(1) }})
	for i := 0; i < 200_000; i++ {
		take(t, m, "k"+strconv.Itoa(i))
	}
	if n, c := m.Len(), m.Cap(); n > c || c > 1100 {
		t.Fatalf("len %d, cap %d after a flood: want len <= cap ≈ 1000", n, c)
	}
	if full.Load() != 1 {
		t.Fatalf("OnFull called %d times, want once", full.Load())
	}
	// after one window the keys still weigh (previous count); after two they are idle
	clk.advance(time.Minute)
	m.Sweep()
	if m.Len() == 0 {
		t.Fatal("keys swept while their previous window still counts")
	}
	clk.advance(time.Minute)
	m.Sweep()
	if n := m.Len(); n != 0 {
		t.Fatalf("%d keys left after two windows", n)
	}
}

func TestSlidingConcurrentExact(t *testing.T) {
	m, _ := newTestSliding(t, "500/1h", MemoryOptions{})
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				if res, _ := m.Take(context.Background(), "k"); res.Allowed {
					allowed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if n := allowed.Load(); n != 500 {
		t.Fatalf("%d allowed by 8 concurrent clients, want exactly 500", n)
	}
}

func TestParseAlgorithm(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Algorithm
		ok   bool
	}{
		{"", GCRA, true}, {"gcra", GCRA, true}, {"sliding_window", SlidingWindow, true},
		{"sliding", GCRA, false}, {"GCRA", GCRA, false}, {"fixed_window", GCRA, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			a, err := ParseAlgorithm(tc.in)
			if (err == nil) != tc.ok || a != tc.want {
				t.Fatalf("ParseAlgorithm(%q) = %v, %v", tc.in, a, err)
			}
		})
	}
}
