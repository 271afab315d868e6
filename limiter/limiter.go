// Package limiter decides whether a request may pass a rate limit. It
// implements GCRA (the generic cell rate algorithm, a virtual-scheduling
// token bucket; the default) and the sliding window counter (Policy
// Algorithm SlidingWindow, see sliding.go) on two backends: an in-process
// sharded table (Memory, SlidingMemory) and Redis with one atomic Lua
// script per decision (Redis).
//
// GCRA refills continuously, so a client slower than the refill never
// sees "N per window"; the sliding window counter gives exactly N per
// fixed window, with the previous window's count weighing on the next.
//
// # Why GCRA
//
// GCRA keeps a single number per key, the theoretical arrival time (TAT):
// the instant at which the key's bucket would be full again. A decision is
// a compare and an add, so it is O(1) in time and 8 bytes of state per key
// on every backend, and a key whose TAT has passed is indistinguishable
// from a key never seen, which makes idle eviction free of side effects.
// Unlike fixed windows it has no edge effect: with rate N/W and burst B a
// client gets at most B requests at once and then one every W/N, so no
// span of time of length L ever admits more than B + L·N/W requests (a
// fixed window admits 2N around a window boundary). Unlike a sliding log
// its memory does not grow with the rate.
package limiter

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Rate is Events per Window, e.g. 100 per minute.
type Rate struct {
	// Events is the number of events allowed per Window (> 0).
	Events int64
	// Window is the period (> 0): the rolling window, or the nominal
	// length of a Calendar period (24h; 30 days for a month).
	Window time.Duration
	// Calendar, if set, counts per UTC calendar day or month instead of
	// a rolling window.
	Calendar Calendar
}

// MinInterval is the smallest emission interval (Window/Events) a Rate may
// have: the Redis backend computes in microseconds.
const MinInterval = time.Microsecond

// ParseRate parses "<events>/<window>", e.g. "100/1m", "5/15m", "10/s",
// "1000/1h", "50000/1d". The window is a Go duration or a bare unit
// (s, m, h, d) meaning one of that unit (a rolling window), or
// calendar_day or calendar_month: a quota per UTC calendar period
// ("10000/calendar_day").
func ParseRate(s string) (Rate, error) {
	ev, win, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return Rate{}, fmt.Errorf("rate %q: want <events>/<window>, e.g. 100/1m", s)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(ev), 10, 64)
	if err != nil || n <= 0 {
		return Rate{}, fmt.Errorf("rate %q: events must be a positive integer, e.g. 100/1m", s)
	}
	switch strings.TrimSpace(win) {
	case calendarDayName:
		return Rate{Events: n, Window: 24 * time.Hour, Calendar: CalendarDay}, nil
	case calendarMonthName:
		return Rate{Events: n, Window: 30 * 24 * time.Hour, Calendar: CalendarMonth}, nil
	}
	w, err := parseWindow(strings.TrimSpace(win))
	if err != nil || w <= 0 {
		return Rate{}, fmt.Errorf("rate %q: window must be a positive duration such as 1s, 1m, 15m, 1h or 1d, or calendar_day or calendar_month (UTC)", s)
	}
	r := Rate{Events: n, Window: w}
	if r.Interval() < MinInterval {
		return Rate{}, fmt.Errorf("rate %q: more than one event per microsecond is not supported", s)
	}
	return r, nil
}

func parseWindow(s string) (time.Duration, error) {
	switch s {
	case "s":
		return time.Second, nil
	case "m":
		return time.Minute, nil
	case "h":
		return time.Hour, nil
	case "d":
		return 24 * time.Hour, nil
	}
	if strings.HasSuffix(s, "d") {
		n, err := strconv.ParseFloat(strings.TrimSuffix(s, "d"), 64)
		if err != nil {
			return 0, err
		}
		return time.Duration(n * float64(24*time.Hour)), nil
	}
	return time.ParseDuration(s)
}

// Interval returns the emission interval Window/Events: the time one event
// takes to replenish.
func (r Rate) Interval() time.Duration {
	if r.Events <= 0 {
		return 0
	}
	return r.Window / time.Duration(r.Events)
}

// String formats the rate as ParseRate accepts it.
func (r Rate) String() string {
	if r.Calendar != Rolling {
		return strconv.FormatInt(r.Events, 10) + "/" + r.Calendar.String()
	}
	return strconv.FormatInt(r.Events, 10) + "/" + r.Window.String()
}

// Policy is a rate with a burst: the bucket holds Burst events and refills
// at Rate.
type Policy struct {
	// Rate is the long-run rate.
	Rate Rate
	// Burst is how many events may pass at once from a full bucket
	// (default: Rate.Events). SlidingWindow needs Burst == Rate.Events.
	Burst int64
	// Algorithm is the decision rule (default GCRA).
	Algorithm Algorithm
}

// Algorithm names a rate-limiting algorithm.
type Algorithm string

// The algorithms. The zero value means GCRA.
const (
	// GCRA is the generic cell rate algorithm: a burst, then a steady
	// refill of one event every Window/Events.
	GCRA Algorithm = ""
	// SlidingWindow is the sliding window counter: exactly Events per
	// Window, the previous window's count weighted by its overlap.
	SlidingWindow Algorithm = "sliding_window"
)

// ParseAlgorithm accepts "gcra", "sliding_window" and "" (GCRA).
func ParseAlgorithm(s string) (Algorithm, error) {
	switch s {
	case "", "gcra":
		return GCRA, nil
	case string(SlidingWindow):
		return SlidingWindow, nil
	}
	return GCRA, fmt.Errorf("algorithm %q: want gcra or sliding_window", s)
}

// String returns the configuration name of the algorithm.
func (a Algorithm) String() string {
	if a == GCRA {
		return "gcra"
	}
	return string(a)
}

// Validate reports a policy that cannot work.
func (p Policy) Validate() error {
	if p.Rate.Events <= 0 || p.Rate.Window <= 0 {
		return fmt.Errorf("rate must be positive events per positive window")
	}
	if p.Rate.Interval() < MinInterval {
		return fmt.Errorf("rate %s: more than one event per microsecond is not supported", p.Rate)
	}
	if p.Burst <= 0 {
		return fmt.Errorf("burst must be at least 1")
	}
	if p.Rate.Calendar != Rolling {
		return p.validateCalendar()
	}
	switch p.Algorithm {
	case GCRA:
	case SlidingWindow:
		if p.Burst != p.Rate.Events {
			return fmt.Errorf("sliding_window has no burst: burst %d must equal the rate's events %d (remove burst)", p.Burst, p.Rate.Events)
		}
		if p.Rate.Events > math.MaxUint32 {
			return fmt.Errorf("sliding_window supports at most %d events per window", uint64(math.MaxUint32))
		}
		if p.Rate.Window < time.Millisecond {
			return fmt.Errorf("sliding_window needs a window of at least 1ms")
		}
		return nil
	default:
		return fmt.Errorf("unknown algorithm %q: want gcra or sliding_window", string(p.Algorithm))
	}
	if p.Burst > (1<<62)/int64(p.Rate.Interval()) {
		return fmt.Errorf("burst %d is too large for rate %s", p.Burst, p.Rate)
	}
	return nil
}

// Result is the outcome of one decision.
type Result struct {
	// Allowed reports whether the event passed (and was counted).
	Allowed bool
	// Remaining is how many more events would pass right now.
	Remaining int64
	// RetryAfter is, when !Allowed, how long until one event passes.
	RetryAfter time.Duration
	// Reset is, for GCRA, how long until the bucket is full again (the
	// key is idle); for the sliding window, how long until one more event
	// is available (Remaining+1 would pass). Policy.NextAvailable gives
	// the latter for both algorithms.
	Reset time.Duration
}

// Limiter is one zone's counter table on some backend. Implementations are
// safe for concurrent use. A backend failure (Redis down or slow) wraps
// failure.ErrUnavailable; callers apply their declared fail-open or
// fail-closed behaviour.
type Limiter interface {
	// Take counts one event for key if the policy allows it now.
	Take(ctx context.Context, key string) (Result, error)
	// Refund gives back one event previously counted for key by Take (a
	// reservation that turned out not to count); it never lets the bucket
	// hold more than it did when the event was taken.
	Refund(ctx context.Context, key string) error
}

// gcra is the decision on the theoretical arrival time tat at instant now,
// with emission interval t and capacity tau = burst·t (all in one unit,
// nanoseconds for Memory, microseconds in the Redis script). It returns the
// new tat and the result values in that unit.
func gcra(tat, now, t, tau int64) (newTAT int64, allowed bool, remaining, retry, reset int64) {
	if tat < now {
		tat = now
	}
	next := tat + t
	if next-now > tau {
		// denied: one event fits when next-now has shrunk to tau
		return tat, false, 0, next - now - tau, tat - now
	}
	return next, true, (tau - (next - now)) / t, 0, next - now
}

// refund is the inverse of an allowed gcra step, clamped to now so that
// time that already replenished the bucket is not credited twice.
func refund(tat, now, t int64) int64 {
	tat -= t
	if tat < now {
		return now
	}
	return tat
}
