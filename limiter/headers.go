package limiter

import (
	"strconv"
	"time"
)

// The RateLimit-Policy and RateLimit fields of
// draft-ietf-httpapi-ratelimit-headers-11 (§3 and §4): Structured Field
// Lists whose items are the policy name as an sf-string with parameters,
//
//	RateLimit-Policy: "per_key";q=100;w=60
//	RateLimit: "per_key";r=42;t=1
//
// q is the quota, w the window in seconds, r the available quota and t
// the effective window: the seconds within which the client can use no
// more than r, i.e. until one more unit becomes available (GCRA: the next
// refill of one unit, not the full bucket; sliding window: the exact time
// until the weighted count frees one more event). The Append functions
// write into the caller's buffer and allocate nothing.

// AppendPolicyItem appends the RateLimit-Policy item of policy p named
// name: `"name";q=<events>;w=<window seconds>`, plus `apigw-burst=<n>`
// (a vendor-prefixed parameter, as §3.1 asks) when the burst differs
// from the rate's events. name must be a valid sf-string content
// (printable ASCII); zone names are [A-Za-z0-9_-].
func (p Policy) AppendPolicyItem(b []byte, name string) []byte {
	b = appendSFString(b, name)
	b = append(b, ";q="...)
	b = strconv.AppendInt(b, p.Rate.Events, 10)
	if p.Rate.Calendar != CalendarMonth { // months differ in length: no w
		b = append(b, ";w="...)
		b = strconv.AppendInt(b, CeilSeconds(p.Rate.Window), 10)
	}
	if p.Burst != 0 && p.Burst != p.Rate.Events {
		b = append(b, ";apigw-burst="...)
		b = strconv.AppendInt(b, p.Burst, 10)
	}
	return b
}

// AppendServiceLimit appends the RateLimit item of a decision res under
// policy p named name: `"name";r=<remaining>;t=<seconds>`.
func (p Policy) AppendServiceLimit(b []byte, name string, res Result) []byte {
	b = appendSFString(b, name)
	b = append(b, ";r="...)
	b = strconv.AppendInt(b, res.Remaining, 10)
	b = append(b, ";t="...)
	return strconv.AppendInt(b, CeilSeconds(p.NextAvailable(res)), 10)
}

// NextAvailable returns how long until one more unit is available after
// decision res: for a denied request, until it would pass (RetryAfter);
// for GCRA, until the bucket refills by one unit (at most one emission
// interval; one interval when the bucket is full again, after a refund);
// for a calendar quota, until the period ends; for the sliding window,
// res.Reset (after a refund, the value of the
// refunded decision: a lower bound, so the statement "no more than r
// within t" stays true), or the window when the whole quota is available.
func (p Policy) NextAvailable(res Result) time.Duration {
	if !res.Allowed {
		return res.RetryAfter
	}
	if p.Rate.Calendar != Rolling {
		return res.Reset // the whole quota comes back when the period ends
	}
	if p.Algorithm == SlidingWindow {
		if res.Remaining >= p.Rate.Events || res.Reset <= 0 {
			// all of the quota is available (after a refund): it cannot
			// be used more than once within a window
			return p.Rate.Window
		}
		return res.Reset
	}
	t := p.Rate.Interval()
	burst := p.Burst
	if burst == 0 {
		burst = p.Rate.Events
	}
	if res.Remaining >= burst {
		return t
	}
	// Reset is until the bucket is full: tat−now. Remaining+1 units are
	// available once tat−now ≤ tau − (Remaining+1)·t.
	d := res.Reset - time.Duration(burst)*t + time.Duration(res.Remaining+1)*t
	if d <= 0 || d > t {
		return t
	}
	return d
}

// CeilSeconds rounds d up to whole seconds (0 for d ≤ 0), as the
// delay-seconds of the fields and of Retry-After.
func CeilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

// appendSFString appends s as a Structured Field sf-string (RFC 8941
// §3.3.3): quoted, with '"' and '\' escaped.
func appendSFString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' {
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return append(b, '"')
}
