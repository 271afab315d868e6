package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/apigw/caddy-apigw/failure"
	"github.com/apigw/caddy-apigw/limiter"
	"github.com/apigw/caddy-apigw/problem"
)

func init() {
	caddy.RegisterModule(RateLimit{})
}

// Fail modes for RateLimit.OnStoreError.
const (
	FailOpen   = limiter.FailOpen
	FailClosed = limiter.FailClosed
)

// Empty-key behaviours for RateLimit.EmptyKey.
const (
	EmptyKeyClientIP = limiter.EmptyKeyClientIP
	EmptyKeyDeny     = limiter.EmptyKeyDeny
	EmptyKeySkip     = limiter.EmptyKeySkip
)

// RateLimit limits requests per key with GCRA or the sliding window
// counter (see package limiter): each zone has a key built from
// placeholders (the authenticated identity, an API key header, the client
// IP, the path…), a rate, an algorithm and (GCRA) a burst, and every zone
// that applies to a request is checked. A denied request gets 429
// rate_limited with Retry-After; every response of the route (allowed or
// not) carries the RateLimit-Policy and RateLimit fields of
// draft-ietf-httpapi-ratelimit-headers-11 (May 2026).
//
// Counters live in the store chosen by the apigw app: in process (the
// default "memory" store; they survive config reloads) or in Redis (one
// atomic Lua script per decision on the Redis server's clock, so several
// Caddy instances share exact limits).
//
// EXPERIMENTAL: the Caddyfile syntax may still change.
type RateLimit struct {
	// Zones are the limits to apply; each applicable zone is checked and
	// a request passes only if every one allows it.
	Zones []*RateLimitZone `json:"zones,omitempty"`
	// OnStoreError is what happens when the Redis store fails or times
	// out: "fail_open" (default: the request passes unlimited; one
	// warning is logged per outage) or "fail_closed" (503
	// service_unavailable).
	OnStoreError string `json:"on_store_error,omitempty"`
	// StoreTimeout bounds one Redis decision (default 100ms). After a
	// failure the store's breaker stops calling Redis (requests get the
	// fail mode at once) until its probe sees Redis answer again.
	StoreTimeout caddy.Duration `json:"store_timeout,omitempty"`
	// LegacyHeaders also sets X-RateLimit-Limit, X-RateLimit-Remaining and
	// X-RateLimit-Reset for the most restrictive zone, as express-rate-limit's
	// legacyHeaders does: Reset is the Unix time (seconds) at which one
	// more request is available.
	LegacyHeaders bool `json:"legacy_headers,omitempty"`
	// EmptyKey says what happens when a zone's key has a placeholder that
	// resolves empty (e.g. {http.auth.user.id} on an unauthenticated
	// request): "client_ip" (default: the zone counts per {client_ip}
	// instead, in a namespace of its own), "deny" (400 bad_request) or
	// "skip" (the zone does not apply to the request). A key is never
	// silently shared by all such requests.
	EmptyKey string `json:"empty_key,omitempty"`
	// IPv6Prefix groups IPv6 client addresses ({client_ip}, {remote_host}
	// and the EmptyKey fallback) by this prefix length in zones that set
	// none. Default: 64 (DefaultIPv6Prefix); 128 = per address.
	IPv6Prefix int `json:"ipv6_prefix,omitempty"`

	logger     *zap.Logger
	poolKeys   []string
	failClosed bool
	hasCount   bool
}

// RateLimitZone is one limit.
type RateLimitZone struct {
	// Name identifies the zone in headers, logs and storage (letters,
	// digits, "_" and "-"). Handlers declaring a zone with the same name,
	// rate, burst, algorithm and max_keys share its counters.
	Name string `json:"name"`
	// Key is the partition key, with placeholders, e.g.
	// "{http.auth.user.id}", "{http.request.header.X-API-Key}",
	// "{http.vars.client_ip}" or "{http.vars.client_ip}|{http.request.uri.path}".
	// The Caddyfile shorthands {client_ip}, {path}, {host}, {method} and
	// {remote_host} are accepted too. Keys are hashed before storage.
	Key string `json:"key"`
	// Rate is "<events>/<window>", e.g. "100/1m" or "5/15m" (a rolling
	// window), or "10000/calendar_day" / "1000000/calendar_month" (a
	// quota per UTC calendar day or month: no burst, no algorithm). Leave
	// it out when RateFrom and Plans give the rate per consumer.
	Rate string `json:"rate,omitempty"`
	// RateFrom takes the rate from the identity: a placeholder such as
	// "{http.auth.user.tier}" (an API key's metadata, a JWT claim) whose
	// value names one of Plans; a missing or unknown value gets the
	// "default" plan. Each plan counts on its own.
	RateFrom string `json:"rate_from,omitempty"`
	// Plans maps a plan (tier) name to its rate, e.g. {"gold":
	// "1000/1m", "silver": "100/1m", "default": "10/1m"}; "default" is
	// required. Only with RateFrom.
	Plans map[string]string `json:"plans,omitempty"`
	// Burst is how many requests may pass at once from a full bucket
	// (default: the rate's events). GCRA only: with sliding_window it
	// must be left out or equal the rate's events.
	Burst int64 `json:"burst,omitempty"`
	// Algorithm is "gcra" (default: a burst of Burst requests, then a
	// steady refill of one request every window/events) or
	// "sliding_window" (exactly events per window, with the previous
	// window's count weighted by its overlap with the sliding window).
	Algorithm string `json:"algorithm,omitempty"`
	// CountStatus, if set, makes this a failed-attempt zone: only
	// responses with one of these statuses count (e.g. 401 for logins).
	// A request is reserved before it runs (so concurrent attempts cannot
	// overshoot) and refunded if its status is not listed.
	CountStatus []int `json:"count_status,omitempty"`
	// MatchRaw limits the zone to requests matching this matcher set
	// (all matchers must match). Default: every request of the route.
	MatchRaw caddy.ModuleMap `json:"match,omitempty" caddy:"namespace=http.matchers"`
	// MaxKeys caps the keys the memory store tracks for this zone
	// (default 100000, about 40 bytes each). At the cap, an idle key or
	// else the key closest to idle is evicted. Ignored for Redis, whose
	// keys expire by TTL.
	MaxKeys int `json:"max_keys,omitempty"`
	// IPv6Prefix overrides RateLimit.IPv6Prefix for this zone.
	IPv6Prefix int `json:"ipv6_prefix,omitempty"`

	match   caddyhttp.MatcherSet
	zone    *limiter.Zone // the checked config: limits, key, count statuses
	key     keyTemplate
	metrics limitCounters
}

// CaddyModule returns the Caddy module information.
func (RateLimit) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.apigw_rate_limit",
		New: func() caddy.Module { return new(RateLimit) },
	}
}

// Provision sets defaults, checks the zones and opens (or reuses, across
// reloads) their counters in the configured store.
func (rl *RateLimit) Provision(ctx caddy.Context) error {
	rl.logger = ctx.Logger()
	if err := rl.provisionZones(ctx); err != nil {
		return err
	}
	return rl.openCounters(ctx)
}

// provisionZones sets defaults and checks the handler and its zones.
func (rl *RateLimit) provisionZones(ctx caddy.Context) error {
	if err := rl.check(); err != nil {
		return err
	}
	if rl.OnStoreError == "" {
		rl.OnStoreError = FailOpen
	}
	if rl.EmptyKey == "" {
		rl.EmptyKey = EmptyKeyClientIP
	}
	if rl.StoreTimeout <= 0 {
		rl.StoreTimeout = caddy.Duration(100 * time.Millisecond)
	}
	rl.failClosed = rl.OnStoreError == FailClosed
	for _, z := range rl.Zones {
		if err := z.provision(ctx, rl.IPv6Prefix); err != nil {
			return err
		}
		if z.zone.CountStatus != nil {
			rl.hasCount = true
		}
	}
	return nil
}

// check is the one check of the handler's config (JSON at provision, and
// the Caddyfile, which adds the line): its options and every zone.
func (rl *RateLimit) check() error {
	if err := limiter.CheckOptions(rl.OnStoreError, rl.EmptyKey, time.Duration(rl.StoreTimeout), rl.IPv6Prefix); err != nil {
		return fmt.Errorf("apigw_rate_limit %w", err)
	}
	if len(rl.Zones) == 0 {
		return errors.New("apigw_rate_limit: no zone configured; add `zone <name> { key … rate … }`")
	}
	seen := make(map[string]bool, len(rl.Zones))
	for _, z := range rl.Zones {
		if z == nil {
			return errors.New("apigw_rate_limit: empty zone")
		}
		if _, err := z.check(); err != nil {
			return err
		}
		if seen[z.Name] {
			return fmt.Errorf("apigw_rate_limit: zone %q is declared twice in one handler", z.Name)
		}
		seen[z.Name] = true
	}
	return nil
}

// check is the one check of a zone's config (limiter.CheckZone).
func (z *RateLimitZone) check() (*limiter.Zone, error) {
	zone, err := limiter.CheckZone(limiter.ZoneConfig{Name: z.Name, Key: z.Key, Rate: z.Rate, RateFrom: z.RateFrom,
		Plans: z.Plans, Burst: z.Burst, Algorithm: z.Algorithm, CountStatus: z.CountStatus, MaxKeys: z.MaxKeys,
		IPv6Prefix: z.IPv6Prefix})
	if err != nil {
		return nil, fmt.Errorf("apigw_rate_limit %w", err)
	}
	return zone, nil
}

// provision checks the zone, loads its matchers and sets its IPv6
// grouping (limiter.IPv6Bits of the handler's ipv6 and the zone's).
func (z *RateLimitZone) provision(ctx caddy.Context, ipv6 int) error {
	zone, err := z.check()
	if err != nil {
		return err
	}
	z.zone = zone
	z.MaxKeys = zone.MaxKeys
	if zone.Burst != 0 && z.Burst == 0 {
		z.Burst = zone.Burst // as before plans: the default shows in the config
	}
	z.key = newKeyTemplate(zone.Key, limiter.IPv6Bits(ipv6, z.IPv6Prefix))
	if z.MatchRaw != nil {
		mods, err := ctx.LoadModule(z, "MatchRaw")
		if err != nil {
			return fmt.Errorf("apigw_rate_limit zone %s: loading matchers: %v", z.Name, err)
		}
		for _, m := range mods.(map[string]any) {
			switch m.(type) {
			case caddyhttp.RequestMatcherWithError, caddyhttp.RequestMatcher:
				z.match = append(z.match, m)
			default:
				return fmt.Errorf("apigw_rate_limit zone %s: %T is not a request matcher", z.Name, m)
			}
		}
	}
	z.metrics = newLimitCounters(z.Name)
	return nil
}

// Cleanup releases this config's hold on the counters.
func (rl *RateLimit) Cleanup() error {
	for _, k := range rl.poolKeys {
		_, _ = rateLimitState.Delete(k)
	}
	rl.poolKeys = nil
	return nil
}

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (rl *RateLimit) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	var buf [4]limiter.Decision
	states := buf[:0]
	var denied *RateLimitZone
	var retry time.Duration
	for _, z := range rl.Zones {
		if z.match != nil {
			ok, err := z.match.MatchWithError(r)
			if err != nil {
				refundAll(r, states)
				return caddyhttp.Error(http.StatusBadRequest, err)
			}
			if !ok {
				continue
			}
		}
		key, ok := rl.keyFor(z, repl, r)
		if !ok {
			if rl.EmptyKey == EmptyKeySkip {
				continue
			}
			refundAll(r, states)
			RequestID(w, r) // before Audit, which cannot set the response header
			Audit(r, "rate_limit_no_key", problem.CodeBadRequest, zap.String("zone", z.Name))
			return Fail(problemFromError(failure.New(failure.ErrBadRequest,
				"the request lacks the value this route is rate limited by")))
		}
		zl := z.limitFor(repl)
		res, err := zl.Limiter.Take(r.Context(), key)
		z.metrics.observe(res.Allowed, err)
		if err != nil {
			if rl.failClosed {
				refundAll(r, states)
				RequestID(w, r)
				Audit(r, "rate_limit_unavailable", problem.CodeServiceUnavailable, zap.String("zone", z.Name))
				return Fail(problemFromError(failure.New(failure.ErrUnavailable, "rate limiting is temporarily unavailable")))
			}
			states = append(states, limiter.Decision{Zone: z.zone, Limit: zl, Unknown: true})
			continue
		}
		states = append(states, limiter.Decision{Zone: z.zone, Limit: zl, Key: key, Result: res, Taken: res.Allowed})
		if !res.Allowed && res.RetryAfter >= retry {
			denied, retry = z, res.RetryAfter
		}
	}
	if denied != nil {
		return rl.deny(w, r, states, denied.Name, retry)
	}
	if len(states) == 0 {
		return next.ServeHTTP(w, r)
	}
	rl.setHeaders(w.Header(), states)
	if !rl.hasCount {
		return next.ServeHTTP(w, r)
	}
	// the writer outlives this frame: give it its own copy, so the
	// common path keeps its states on the stack
	cw := newHookWriter(w, countingHook{rl: rl, r: r, states: append([]limiter.Decision(nil), states...)})
	err := next.ServeHTTP(cw, r)
	if !cw.wrote {
		status := http.StatusOK
		if err != nil {
			status = ProblemFor(r, err).Status
		}
		cw.finish(status)
	}
	return err
}

// deny answers 429 rate_limited for the zone whose next unit is furthest
// (retry), with Retry-After and the RateLimit fields, and audits every
// zone that denied.
func (rl *RateLimit) deny(w http.ResponseWriter, r *http.Request, states []limiter.Decision, zone string, retry time.Duration) error {
	refundAll(r, states)
	h := w.Header()
	rl.setHeaders(h, states)
	RequestID(w, r)
	for i := range states {
		if d := &states[i]; !d.Unknown && !d.Result.Allowed {
			Audit(r, "rate_limited", problem.CodeRateLimited, zap.String("zone", d.Zone.Name))
		}
	}
	secs, err := limiter.Refusal(zone, retry)
	p := problemFromError(err)
	p.Header = http.Header{"Retry-After": []string{secs}}
	for _, k := range [...]string{"Ratelimit", "Ratelimit-Policy", "X-Ratelimit-Limit", "X-Ratelimit-Remaining", "X-Ratelimit-Reset"} {
		if v, ok := h[k]; ok {
			p.Header[k] = v
		}
	}
	return Fail(p)
}

func refundAll(r *http.Request, states []limiter.Decision) {
	for i := range states {
		states[i].Refund(r.Context())
	}
}

// setHeaders writes the RateLimit-Policy and RateLimit fields (formatted
// by limiter.Fields) and, if configured, the legacy X-RateLimit-* fields
// of the most restrictive zone.
func (rl *RateLimit) setHeaders(h http.Header, states []limiter.Decision) {
	pol, lim, tightest := limiter.Fields(states)
	// one backing array for both fields; capped slices so that an append
	// to one header never writes into the other
	vals := make([]string, 2)
	vals[0] = pol
	h["Ratelimit-Policy"] = vals[0:1:1]
	if lim != "" {
		vals[1] = lim
		h["Ratelimit"] = vals[1:2:2]
	} else {
		delete(h, "Ratelimit")
	}
	if rl.LegacyHeaders && tightest >= 0 {
		limit, remaining, reset := states[tightest].LegacyFields(time.Now())
		h["X-Ratelimit-Limit"] = []string{limit}
		h["X-Ratelimit-Remaining"] = []string{remaining}
		h["X-Ratelimit-Reset"] = []string{reset}
	}
}

// countingHook settles the failed-attempt zones (through hookWriter) when
// the response status is known: the reservation made before the handler
// ran stays counted if the status is listed in count_status, and is
// refunded otherwise.
type countingHook struct {
	rl     *RateLimit
	r      *http.Request
	states []limiter.Decision
}

func (k countingHook) beforeHeader(h http.Header, status int) {
	for i := range k.states {
		if d := &k.states[i]; !d.Zone.Counts(status) {
			d.Refund(k.r.Context())
		}
	}
	k.rl.setHeaders(h, k.states)
}

// Interface guards
var (
	_ caddy.Provisioner           = (*RateLimit)(nil)
	_ caddy.CleanerUpper          = (*RateLimit)(nil)
	_ caddyhttp.MiddlewareHandler = (*RateLimit)(nil)
)
