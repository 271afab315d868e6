package limiter

import (
	"context"
	"strconv"
	"time"

	"github.com/apigw/caddy-apigw/failure"
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

// Decision is one zone's decision for one request.
type Decision struct {
	// Zone is the zone decided on.
	Zone *Zone
	// Limit is the zone's limit that applied (its plan).
	Limit *ZoneLimit
	// Key is the counted key.
	Key string
	// Result is the backend's answer.
	Result Result
	// Taken reports a counted unit (to refund if the request is denied
	// or its response does not count).
	Taken bool
	// Unknown reports a backend failure: the decision has no values.
	Unknown bool
}

// Refund gives back the decision's unit if it took one, and updates the
// result: one more remains. For GCRA the time until the next unit is
// unchanged (its tat moved back by one interval, so Reset, the time until
// the bucket is full, shrinks by one interval); for the sliding window the
// refunded decision's time stays: a lower bound of the new one, so t
// stays true.
func (d *Decision) Refund(ctx context.Context) {
	if !d.Taken {
		return
	}
	d.Taken = false
	if err := d.Limit.Limiter.Refund(ctx, d.Key); err != nil || !d.Result.Allowed {
		return
	}
	d.Result.Remaining++
	if p := d.Limit.Policy; p.Algorithm != SlidingWindow {
		d.Result.Reset -= p.Rate.Interval()
	}
}

// Fields returns the RateLimit-Policy and RateLimit field values
// (draft-ietf-httpapi-ratelimit-headers-11, §3 and §4) of the decisions
// of one request: lists of `"name";q=…;w=…` and `"name";r=<available>;
// t=<seconds until one more unit>`. ratelimit is "" when no decision has
// values (every backend failed); tightest is the index of the decision
// with the fewest remaining units, -1 if none.
func Fields(ds []Decision) (policy, ratelimit string, tightest int) {
	var pbuf, lbuf [128]byte
	pol, lim := pbuf[:0], lbuf[:0]
	tightest = -1
	for i := range ds {
		d := &ds[i]
		if len(ds) > 1 {
			if len(pol) > 0 {
				pol = append(pol, ", "...)
			}
			pol = append(pol, d.Limit.PolicyItem...)
		}
		if d.Unknown {
			continue
		}
		if len(lim) > 0 {
			lim = append(lim, ", "...)
		}
		lim = d.Limit.Policy.AppendServiceLimit(lim, d.Zone.Name, d.Result)
		if tightest < 0 || d.Result.Remaining < ds[tightest].Result.Remaining {
			tightest = i
		}
	}
	if len(ds) == 1 {
		policy = ds[0].Limit.PolicyItem
	} else {
		policy = string(pol)
	}
	if len(lim) > 0 {
		ratelimit = string(lim)
	}
	return policy, ratelimit, tightest
}

// LegacyFields returns the X-RateLimit-Limit, X-RateLimit-Remaining and
// X-RateLimit-Reset values of decision d at now, as express-rate-limit
// sends them (Reset the Unix time in seconds at which one more unit is
// available).
func (d *Decision) LegacyFields(now time.Time) (limit, remaining, reset string) {
	p := d.Limit.Policy
	at := now.Add(p.NextAvailable(d.Result))
	return strconv.FormatInt(p.Rate.Events, 10), strconv.FormatInt(d.Result.Remaining, 10),
		strconv.FormatInt(CeilSeconds(time.Duration(at.UnixNano())), 10)
}

// Refusal returns the failure of a request denied by zone, whose next
// unit comes after retry, and the Retry-After value (whole seconds).
func Refusal(zone string, retry time.Duration) (retryAfter string, err error) {
	secs := strconv.FormatInt(CeilSeconds(retry), 10)
	return secs, failure.New(failure.ErrRateLimited, "rate limit of zone "+zone+" exceeded; retry after "+secs+" seconds")
}
