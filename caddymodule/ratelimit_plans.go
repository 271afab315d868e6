package caddymodule

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/apigw/caddy-apigw/limiter"
)

// Consumer plans: a zone's rate taken from the identity (rate_from and
// plans), each plan with counters of its own.

// DefaultPlan is the plan of a consumer whose rate_from value is missing
// or names no plan.
const DefaultPlan = "default"

// zoneLimit is one rate of a zone (the zone's only one, or one plan's)
// with its counters.
type zoneLimit struct {
	plan       string // "" for a zone without plans
	policy     limiter.Policy
	lim        limiter.Limiter
	policyItem string // RateLimit-Policy list item
}

// provisionLimits builds the zone's limits from rate or from plans.
func (z *RateLimitZone) provisionLimits() error {
	if z.Burst < 0 {
		return fmt.Errorf("apigw_rate_limit zone %s: burst %d must be at least 1", z.Name, z.Burst)
	}
	alg, err := limiter.ParseAlgorithm(z.Algorithm)
	if err != nil {
		return fmt.Errorf("apigw_rate_limit zone %s: %w", z.Name, err)
	}
	rates := map[string]string{"": z.Rate}
	switch {
	case z.RateFrom == "" && len(z.Plans) > 0:
		return fmt.Errorf("apigw_rate_limit zone %s: plans need rate_from, the placeholder naming the consumer's plan, e.g. `rate_from {http.auth.user.tier}`", z.Name)
	case z.RateFrom != "":
		if z.Rate != "" {
			return fmt.Errorf("apigw_rate_limit zone %s: rate and rate_from exclude each other: give the rate of unknown consumers as `plan default %s`", z.Name, z.Rate)
		}
		if !strings.Contains(z.RateFrom, "{") {
			return fmt.Errorf("apigw_rate_limit zone %s: rate_from %q must be a placeholder such as {http.auth.user.tier}", z.Name, z.RateFrom)
		}
		if z.Burst != 0 {
			return fmt.Errorf("apigw_rate_limit zone %s: burst is not supported with plans: each plan's burst is its rate's events", z.Name)
		}
		if _, ok := z.Plans[DefaultPlan]; !ok {
			return fmt.Errorf("apigw_rate_limit zone %s: plans need a `plan default <events>/<window>` for consumers without a known plan", z.Name)
		}
		rates = z.Plans
	case z.Rate == "":
		return fmt.Errorf("apigw_rate_limit zone %s: rate is required, e.g. `rate 100/1m` (or rate_from with plans)", z.Name)
	}
	z.limits = make(map[string]*zoneLimit, len(rates))
	for plan, r := range rates {
		if plan != "" && !zoneNameRE.MatchString(plan) {
			return fmt.Errorf("apigw_rate_limit zone %s: plan %q: name must be 1-64 letters, digits, '_' or '-'", z.Name, plan)
		}
		what := "zone " + z.Name
		if plan != "" {
			what += " plan " + plan
		}
		if r == "" {
			return fmt.Errorf("apigw_rate_limit %s: the plan has no rate: `plan %s <events>/<window>`", what, plan)
		}
		rate, err := limiter.ParseRate(r)
		if err != nil {
			return fmt.Errorf("apigw_rate_limit %s: %w", what, err)
		}
		burst := z.Burst
		if alg == limiter.SlidingWindow && burst != 0 && burst != rate.Events {
			return fmt.Errorf("apigw_rate_limit %s: burst %d is not supported by algorithm sliding_window, which allows exactly the rate's %d events per window: remove burst, or use algorithm gcra",
				what, burst, rate.Events)
		}
		if burst == 0 {
			burst = rate.Events
		}
		pol := limiter.Policy{Rate: rate, Burst: burst, Algorithm: alg}
		if err := pol.Validate(); err != nil {
			return fmt.Errorf("apigw_rate_limit %s: %w", what, err)
		}
		z.limits[plan] = &zoneLimit{plan: plan, policy: pol, policyItem: string(pol.AppendPolicyItem(nil, z.Name))}
	}
	z.def = z.limits[""]
	if z.def == nil {
		z.def = z.limits[DefaultPlan]
	} else if z.Burst == 0 {
		z.Burst = z.def.policy.Burst // as before plans: the default shows in the config
	}
	z.policy = z.def.policy
	return nil
}

// limitFor returns the limit that applies to the request: the plan named
// by rate_from, else the default.
func (z *RateLimitZone) limitFor(repl *caddy.Replacer) *zoneLimit {
	if z.RateFrom == "" || repl == nil {
		return z.def
	}
	var plan string
	if name, ok := singlePlaceholder(z.RateFrom); ok {
		v, _ := repl.Get(name)
		plan, _ = v.(string)
	} else {
		plan = repl.ReplaceKnown(z.RateFrom, "")
	}
	if zl, ok := z.limits[plan]; ok {
		return zl
	}
	return z.def
}

// singlePlaceholder reports whether s is exactly one placeholder, and its
// name: then the value is read without building a string.
func singlePlaceholder(s string) (string, bool) {
	if len(s) < 3 || s[0] != '{' || s[len(s)-1] != '}' || strings.ContainsAny(s[1:len(s)-1], "{}") {
		return "", false
	}
	return s[1 : len(s)-1], true
}

// signature identifies a limit's policy in storage keys, so a changed
// rate starts from fresh counters instead of misreading old ones; each
// plan counts on its own.
func (zl *zoneLimit) signature() string {
	p := zl.policy
	sig := strconv.FormatInt(p.Rate.Events, 10) + "-" + strconv.FormatInt(int64(p.Rate.Window/time.Millisecond), 10) +
		"ms-" + strconv.FormatInt(p.Burst, 10)
	if p.Algorithm == limiter.SlidingWindow {
		// another value layout: never share counters with a GCRA zone
		sig += "-sw"
	}
	if p.Rate.Calendar != limiter.Rolling {
		sig += "-" + p.Rate.Calendar.String()
	}
	if zl.plan != "" {
		sig += "-plan-" + zl.plan
	}
	return sig
}

// openLimit attaches one limit of zone z to its counters: on the Redis
// connection, or a pooled memory table.
func (rl *RateLimit) openLimit(z *RateLimitZone, zl *zoneLimit, conn *limiter.RedisConn) error {
	if conn != nil {
		lim, err := conn.Zone(z.Name+":"+zl.signature(), zl.policy)
		if err != nil {
			return fmt.Errorf("apigw_rate_limit zone %s: %w", z.Name, err)
		}
		zl.lim = lim
		return nil
	}
	key := "memory|" + z.Name + "|" + zl.signature() + "|" + strconv.Itoa(z.MaxKeys)
	name, maxKeys, logger := z.Name, z.MaxKeys, rl.logger
	val, _, err := rateLimitState.LoadOrNew(key, func() (caddy.Destructor, error) {
		m, err := limiter.NewMemoryTable(zl.policy, limiter.MemoryOptions{
			MaxKeys: maxKeys,
			OnFull: func() {
				logger.Warn("rate limit zone is full; evicting the keys closest to idle (raise max_keys if this is legitimate traffic)",
					zap.String("zone", name), zap.Int("max_keys", maxKeys))
			},
		})
		if err != nil {
			return nil, err
		}
		return memTable{m}, nil
	})
	if err != nil {
		return fmt.Errorf("apigw_rate_limit zone %s: %w", z.Name, err)
	}
	rl.poolKeys = append(rl.poolKeys, key)
	zl.lim = val.(memTable).MemoryTable
	return nil
}

// parsePlan reads `plan <name> <events>/<window>` inside a zone block.
func parsePlan(z *RateLimitZone, args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("apigw_rate_limit zone %s: plan needs <name> <events>/<window>, e.g. plan gold 1000/1m", z.Name)
	}
	name, rate := args[0], args[1]
	if !zoneNameRE.MatchString(name) {
		return fmt.Errorf("apigw_rate_limit zone %s: plan %q: name must be 1-64 letters, digits, '_' or '-'", z.Name, name)
	}
	if _, dup := z.Plans[name]; dup {
		return fmt.Errorf("apigw_rate_limit zone %s: plan %s is declared twice", z.Name, name)
	}
	if _, err := limiter.ParseRate(rate); err != nil {
		return fmt.Errorf("apigw_rate_limit zone %s plan %s: %w", z.Name, name, err)
	}
	if z.Plans == nil {
		z.Plans = map[string]string{}
	}
	z.Plans[name] = rate
	return nil
}

// checkPlans is the adapt-time check of a zone's rates and plans (the
// Caddyfile names the directive and the fix before provision does).
func checkPlans(z *RateLimitZone) error {
	cp := *z
	if err := cp.provisionLimits(); err != nil {
		return err
	}
	return nil
}
