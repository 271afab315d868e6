package limiter

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// DefaultPlan is the plan of a consumer whose plan value is missing or
// names no plan.
const DefaultPlan = "default"

// ZoneConfig is one rate-limit zone as configured (JSON or Caddyfile):
// the raw values CheckZone turns into a Zone.
type ZoneConfig struct {
	// Name identifies the zone in headers, logs and storage.
	Name string
	// Key is the partition key: literal text and {placeholders}.
	Key string
	// Rate is "<events>/<window>" (see ParseRate); empty with RateFrom.
	Rate string
	// RateFrom is the placeholder naming the consumer's plan.
	RateFrom string
	// Plans maps a plan name to its rate; "default" is required.
	Plans map[string]string
	// Burst is GCRA's burst (0: the rate's events).
	Burst int64
	// Algorithm is "gcra" (or "") or "sliding_window".
	Algorithm string
	// CountStatus, if set, lists the response statuses that count.
	CountStatus []int
	// MaxKeys caps the keys a memory table tracks (0: DefaultMaxKeys).
	MaxKeys int
	// IPv6Prefix groups IPv6 client addresses (0: the handler's).
	IPv6Prefix int
}

// Zone is a checked zone: its limits (one, or one per plan), its key and
// the statuses that count.
type Zone struct {
	// Name is the zone's name.
	Name string
	// Key is the parsed partition key.
	Key Key
	// Limits are the zone's rates: "" for a zone without plans, else
	// one per plan name.
	Limits map[string]*ZoneLimit
	// Default is the limit of a consumer without a known plan (or the
	// only one).
	Default *ZoneLimit
	// Burst is the default limit's burst, defaulted (0 with plans).
	Burst int64
	// MaxKeys is the memory table cap, defaulted.
	MaxKeys int
	// CountStatus is nil when every response counts.
	CountStatus map[int]struct{}
}

// ZoneLimit is one rate of a zone (the zone's only one, or one plan's).
type ZoneLimit struct {
	// Plan is "" for a zone without plans.
	Plan string
	// Policy is the limit's rate, burst and algorithm.
	Policy Policy
	// PolicyItem is the limit's RateLimit-Policy list item.
	PolicyItem string
	// Limiter holds the limit's counters; set by the caller when it
	// opens them.
	Limiter Limiter
}

// Key is a parsed zone key: literal text and placeholder names.
type Key struct {
	// Parts are the key's pieces in order.
	Parts []KeyPart
}

// KeyPart is a literal or a placeholder.
type KeyPart struct {
	// Lit is the literal text (when Placeholder is "").
	Lit string
	// Placeholder is the placeholder's name, without braces.
	Placeholder string
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidName reports whether s may name a zone or a plan: 1-64 letters,
// digits, '_' or '-'.
func ValidName(s string) bool { return nameRE.MatchString(s) }

// ParseKey parses a zone key. It needs at least one placeholder: a
// constant key would put every request in one bucket.
func ParseKey(s string) (Key, error) {
	var k Key
	text := s
	hasPlaceholder := false
	for len(s) > 0 {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			k.Parts = append(k.Parts, KeyPart{Lit: s})
			break
		}
		if i > 0 {
			k.Parts = append(k.Parts, KeyPart{Lit: s[:i]})
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return k, fmt.Errorf("unclosed placeholder in %q", text)
		}
		name := s[i+1 : i+j]
		if name == "" {
			return k, fmt.Errorf("empty placeholder in %q", text)
		}
		k.Parts = append(k.Parts, KeyPart{Placeholder: name})
		hasPlaceholder = true
		s = s[i+j+1:]
	}
	if !hasPlaceholder {
		return k, fmt.Errorf("%q has no placeholder, so every request would share one bucket; use e.g. {http.auth.user.id} or {client_ip}", text)
	}
	return k, nil
}

// CheckZone is the one check of a zone's configuration (for JSON configs
// at provision and for the Caddyfile, which adds the line). Its errors
// start with "zone <name>" and name the fix.
func CheckZone(c ZoneConfig) (*Zone, error) {
	if !ValidName(c.Name) {
		return nil, fmt.Errorf("zone %q: name must be 1-64 letters, digits, '_' or '-'", c.Name)
	}
	if strings.TrimSpace(c.Key) == "" {
		return nil, fmt.Errorf("zone %s: key is required, e.g. `key {http.auth.user.id}` or `key {client_ip}`", c.Name)
	}
	key, err := ParseKey(c.Key)
	if err != nil {
		return nil, fmt.Errorf("zone %s: key: %w", c.Name, err)
	}
	z := &Zone{Name: c.Name, Key: key, MaxKeys: c.MaxKeys}
	if err := z.checkLimits(c); err != nil {
		return nil, err
	}
	if c.MaxKeys < 0 {
		return nil, fmt.Errorf("zone %s: max_keys %d must be positive", c.Name, c.MaxKeys)
	}
	if z.MaxKeys == 0 {
		z.MaxKeys = DefaultMaxKeys
	}
	for _, s := range c.CountStatus {
		if s < 100 || s > 599 {
			return nil, fmt.Errorf("zone %s: count_status %d is not an HTTP status", c.Name, s)
		}
		if z.CountStatus == nil {
			z.CountStatus = make(map[int]struct{}, len(c.CountStatus))
		}
		z.CountStatus[s] = struct{}{}
	}
	if err := CheckIPv6Prefix(c.IPv6Prefix); err != nil {
		return nil, fmt.Errorf("zone %s %w", c.Name, err)
	}
	return z, nil
}

// checkLimits builds the zone's limits from the rate or from the plans.
func (z *Zone) checkLimits(c ZoneConfig) error {
	if c.Burst < 0 {
		return fmt.Errorf("zone %s: burst %d must be at least 1", c.Name, c.Burst)
	}
	alg, err := ParseAlgorithm(c.Algorithm)
	if err != nil {
		return fmt.Errorf("zone %s: %w", c.Name, err)
	}
	rates := map[string]string{"": c.Rate}
	switch {
	case c.RateFrom == "" && len(c.Plans) > 0:
		return fmt.Errorf("zone %s: plans need rate_from, the placeholder naming the consumer's plan, e.g. `rate_from {http.auth.user.tier}`", c.Name)
	case c.RateFrom != "":
		if c.Rate != "" {
			return fmt.Errorf("zone %s: rate and rate_from exclude each other: give the rate of unknown consumers as `plan default %s`", c.Name, c.Rate)
		}
		if !strings.Contains(c.RateFrom, "{") {
			return fmt.Errorf("zone %s: rate_from %q must be a placeholder such as {http.auth.user.tier}", c.Name, c.RateFrom)
		}
		if c.Burst != 0 {
			return fmt.Errorf("zone %s: burst is not supported with plans: each plan's burst is its rate's events", c.Name)
		}
		if _, ok := c.Plans[DefaultPlan]; !ok {
			return fmt.Errorf("zone %s: plans need a `plan default <events>/<window>` for consumers without a known plan", c.Name)
		}
		rates = c.Plans
	case c.Rate == "":
		return fmt.Errorf("zone %s: rate is required, e.g. `rate 100/1m` (or rate_from with plans)", c.Name)
	}
	z.Limits = make(map[string]*ZoneLimit, len(rates))
	for plan, r := range rates {
		what := "zone " + c.Name
		if plan != "" {
			if !ValidName(plan) {
				return fmt.Errorf("zone %s: plan %q: name must be 1-64 letters, digits, '_' or '-'", c.Name, plan)
			}
			what += " plan " + plan
		}
		if r == "" {
			return fmt.Errorf("%s: the plan has no rate: `plan %s <events>/<window>`", what, plan)
		}
		rate, err := ParseRate(r)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		burst := c.Burst
		if alg == SlidingWindow && burst != 0 && burst != rate.Events {
			return fmt.Errorf("%s: burst %d is not supported by algorithm sliding_window, which allows exactly the rate's %d events per window: remove burst, or use algorithm gcra",
				what, burst, rate.Events)
		}
		if burst == 0 {
			burst = rate.Events
		}
		pol := Policy{Rate: rate, Burst: burst, Algorithm: alg}
		if err := pol.Validate(); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		z.Limits[plan] = &ZoneLimit{Plan: plan, Policy: pol, PolicyItem: string(pol.AppendPolicyItem(nil, c.Name))}
	}
	z.Default = z.Limits[""]
	if z.Default == nil {
		z.Default = z.Limits[DefaultPlan]
	} else {
		z.Burst = z.Default.Policy.Burst
	}
	return nil
}

// Counts reports whether a response with status counts in the zone (every
// status does unless CountStatus lists some).
func (z *Zone) Counts(status int) bool {
	if z.CountStatus == nil {
		return true
	}
	_, ok := z.CountStatus[status]
	return ok
}

// Limit returns the limit of plan, else the default.
func (z *Zone) Limit(plan string) *ZoneLimit {
	if l, ok := z.Limits[plan]; ok {
		return l
	}
	return z.Default
}

// Signature identifies a limit's policy in storage keys, so a changed
// rate starts from fresh counters instead of misreading old ones; each
// plan counts on its own. Zones sharing a name and a signature share
// counters.
func (l *ZoneLimit) Signature() string {
	p := l.Policy
	sig := strconv.FormatInt(p.Rate.Events, 10) + "-" + strconv.FormatInt(int64(p.Rate.Window/time.Millisecond), 10) +
		"ms-" + strconv.FormatInt(p.Burst, 10)
	if p.Algorithm == SlidingWindow {
		// another value layout: never share counters with a GCRA zone
		sig += "-sw"
	}
	if p.Rate.Calendar != Rolling {
		sig += "-" + p.Rate.Calendar.String()
	}
	if l.Plan != "" {
		sig += "-plan-" + l.Plan
	}
	return sig
}

// CheckIPv6Prefix checks an ipv6_prefix setting (0 = unset). Its error
// starts with "ipv6_prefix".
func CheckIPv6Prefix(bits int) error {
	if bits < 0 || bits > 128 {
		return fmt.Errorf("ipv6_prefix %d: use a prefix length from 1 to 128 (default %d; 128 counts every address alone)", bits, DefaultIPv6Prefix)
	}
	return nil
}

// The fail modes of a rate-limit handler (what happens when the backend
// fails) and its behaviours for a request whose zone key is empty.
const (
	FailOpen         = "fail_open"
	FailClosed       = "fail_closed"
	EmptyKeyClientIP = "client_ip"
	EmptyKeyDeny     = "deny"
	EmptyKeySkip     = "skip"
)

// CheckOptions is the one check of a rate-limit handler's own options
// (its zones have CheckZone); "" and 0 mean the defaults. Its errors start
// with the option's name.
func CheckOptions(onStoreError, emptyKey string, storeTimeout time.Duration, ipv6Prefix int) error {
	switch onStoreError {
	case "", FailOpen, FailClosed:
	default:
		return fmt.Errorf("on_store_error %q: use fail_open or fail_closed", onStoreError)
	}
	switch emptyKey {
	case "", EmptyKeyClientIP, EmptyKeyDeny, EmptyKeySkip:
	default:
		return fmt.Errorf("empty_key %q: use client_ip, deny or skip", emptyKey)
	}
	if storeTimeout < 0 {
		return fmt.Errorf("store_timeout %s: want a positive duration such as 100ms", storeTimeout)
	}
	return CheckIPv6Prefix(ipv6Prefix)
}

// IPv6Bits returns the IPv6 grouping of a zone: the zone's own
// ipv6_prefix, else the handler's, else DefaultIPv6Prefix (0 = unset).
func IPv6Bits(handler, zone int) int {
	switch {
	case zone != 0:
		return zone
	case handler != 0:
		return handler
	}
	return DefaultIPv6Prefix
}

// FallbackKey is the key of a request whose zone key is empty, counted
// per client address (EmptyKeyClientIP): in a namespace of its own, so
// that it never equals a real key.
func FallbackKey(clientIP string, ipv6Bits int) string {
	return "\x00client_ip\x00" + IPBucket(clientIP, ipv6Bits)
}
