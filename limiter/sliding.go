package limiter

import (
	"context"
	"fmt"
	"math"
	"time"
)

// The sliding window counter (the approach Cloudflare describes) keeps per
// key the count of the current fixed window and of the previous one. At
// elapsed time e into the current window of length W it estimates the
// events of the last W as prev·(1−e/W) + curr and lets an event pass if
// that estimate plus one stays within the limit. So exactly `events` pass
// in the first window however slowly they come, and a window boundary
// gives no double burst: the previous window's count still weighs on the
// start of the next one.
//
// The arithmetic below is in one integer time unit (nanoseconds for
// SlidingMemory, microseconds in the Redis script, which mirrors it).

// swAllowed reports whether one more event fits at elapsed t into the
// current window (0 ≤ t < w) with counts prev and curr and limit l.
func swAllowed(prev, curr, t, w, l int64) bool {
	return swEstimate(prev, curr, t, w)+1 <= float64(l)
}

// swEstimate is prev·(1−t/w) + curr.
func swEstimate(prev, curr, t, w int64) float64 {
	return float64(prev)*float64(w-t)/float64(w) + float64(curr)
}

// swWait returns the least d ≥ 0 such that one event fits at elapsed e+d,
// where the current window has counts prev and curr (after e+d reaches w,
// curr becomes the previous window's count). Waiting any longer is also
// enough: the estimate never grows with time.
func swWait(prev, curr, e, w, l int64) int64 {
	fits := func(d int64) bool {
		t := e + d
		if t < w {
			return swAllowed(prev, curr, t, w, l)
		}
		if t -= w; t < w {
			return swAllowed(curr, 0, t, w, l)
		}
		return true
	}
	var d int64
	switch {
	case fits(0):
		return 0
	case curr+1 <= l && prev > 0:
		// prev·(w−t)/w + curr ≤ l−1  ⇔  t ≥ w·(1 − (l−1−curr)/prev)
		t := int64(math.Ceil(float64(w) * (1 - float64(l-1-curr)/float64(prev))))
		if t < w {
			d = max(t-e, 0)
			break
		}
		fallthrough
	default:
		// next window: curr·(w−t)/w ≤ l−1  ⇔  t ≥ w·(1 − (l−1)/curr)
		var t int64
		if curr > l-1 {
			t = int64(math.Ceil(float64(w) * (1 - float64(l-1)/float64(curr))))
		}
		d = w - e + max(t, 0)
	}
	// float rounding may leave the candidate a unit off either way
	for i := 0; i < 64 && d > 0 && fits(d-1); i++ {
		d--
	}
	for i := 0; i < 64 && !fits(d); i++ {
		d++
	}
	for !fits(d) {
		d += max(w/1000, 1)
	}
	return d
}

// swState is a key's counts aligned on the window holding now.
type swState struct {
	idx        int64 // window index (now / w)
	prev, curr int64
}

// swAlign moves the stored state (window index idx) to window k.
func swAlign(idx, prev, curr, k int64) swState {
	switch idx {
	case k:
		return swState{k, prev, curr}
	case k - 1:
		return swState{k, curr, 0}
	}
	return swState{idx: k}
}

// swTake is one decision at instant now for state s (already aligned on
// now's window) with window w and limit l. It returns the new state and
// the result values in the time unit of now and w.
func swTake(s swState, now, w, l int64) (_ swState, allowed bool, remaining, retry, reset int64) {
	e := now - s.idx*w
	if !swAllowed(s.prev, s.curr, e, w, l) {
		rem := int64(math.Floor(float64(l) - swEstimate(s.prev, s.curr, e, w)))
		return s, false, max(rem, 0), swWait(s.prev, s.curr, e, w, l), 0
	}
	s.curr++
	rem := max(int64(math.Floor(float64(l)-swEstimate(s.prev, s.curr, e, w))), 0)
	// the time until one more unit is available: until rem+1 events fit,
	// i.e. one event fits under the limit l−rem
	return s, true, rem, 0, swWait(s.prev, s.curr, e, w, l-rem)
}

// swRefund gives back one event: from the current window, or, if the
// window rolled over since it was counted, from the previous one (where
// it now is). Counts never go below zero.
func swRefund(s swState, counted int64) swState {
	switch counted {
	case s.idx:
		s.curr = max(s.curr-1, 0)
	case s.idx - 1:
		s.prev = max(s.prev-1, 0)
	}
	return s
}

// swEntry is a key's state in SlidingMemory: 16 bytes.
type swEntry struct {
	idx        int64 // window index of curr
	prev, curr uint32
}

// idle from the end of the window after idx: both counts have expired.
func (e swEntry) idleAt(w int64) int64 { return (e.idx + 2) * w }

// SlidingMemory is an in-process sliding window counter table with the
// same sharding, bounds, sweeping and eviction as Memory. Per key it keeps
// a 64-bit hash of the key, the current window index and two counts
// (16 bytes). Windows are aligned on the table's clock.
type SlidingMemory struct {
	policy Policy
	w, l   int64
	table[swEntry]
}

// NewSlidingMemory returns an empty sliding window table for policy
// (Algorithm SlidingWindow). Call Close to stop its janitor.
func NewSlidingMemory(policy Policy, opts MemoryOptions) (*SlidingMemory, error) {
	if err := policy.Validate(); err != nil {
		return nil, err
	}
	if policy.Algorithm != SlidingWindow {
		return nil, fmt.Errorf("NewSlidingMemory: algorithm %s", policy.Algorithm)
	}
	m := &SlidingMemory{policy: policy, w: int64(policy.Rate.Window), l: policy.Rate.Events}
	m.init(opts, m.w)
	return m, nil
}

// Policy returns the table's policy.
func (m *SlidingMemory) Policy() Policy { return m.policy }

// Take implements Limiter. It never fails.
func (m *SlidingMemory) Take(_ context.Context, key string) (Result, error) {
	h, s := m.shards.StringShard(key)
	now := m.now()
	k := now / m.w
	s.Lock()
	e, ok := s.M[h]
	st, allowed, remaining, retry, reset := swTake(swAlign(e.idx, int64(e.prev), int64(e.curr), k), now, m.w, m.l)
	if allowed {
		if !ok && m.shards.Full(s) {
			m.evict(s, now)
		}
		s.M[h] = swEntry{idx: st.idx, prev: uint32(st.prev), curr: uint32(st.curr)}
	}
	s.Unlock()
	return Result{Allowed: allowed, Remaining: remaining, RetryAfter: time.Duration(retry), Reset: time.Duration(reset)}, nil
}

// Refund implements Limiter. It takes one event off the count of the
// window that last counted an event for the key: the current window's
// count, or, if the window rolled over since, the previous window's count
// (where that event now is). A refund two windows late is ignored (the
// event no longer weighs). The limiter does not know when the refunded
// event was taken, so a reservation made before a rollover and refunded
// after another event was counted in the new window is taken off the new
// window's count: the key is then credited up to elapsed/window of an
// event more than an exact undo would. Counts never go below zero.
func (m *SlidingMemory) Refund(_ context.Context, key string) error {
	h, s := m.shards.StringShard(key)
	now := m.now()
	k := now / m.w
	s.Lock()
	if e, ok := s.M[h]; ok {
		// e.idx is the window that last counted an event
		st := swRefund(swAlign(e.idx, int64(e.prev), int64(e.curr), k), e.idx)
		if st.prev == 0 && st.curr == 0 {
			delete(s.M, h)
		} else {
			s.M[h] = swEntry{idx: st.idx, prev: uint32(st.prev), curr: uint32(st.curr)}
		}
	}
	s.Unlock()
	return nil
}

var _ MemoryTable = (*SlidingMemory)(nil)
