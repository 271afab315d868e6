package caddymodule

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/apigw/caddy-apigw/limiter"
)

// Consumer plans: a zone's rate taken from the identity (rate_from and
// plans), each plan with counters of its own.

// DefaultPlan is the plan of a consumer whose rate_from value is missing
// or names no plan.
const DefaultPlan = limiter.DefaultPlan

// limitFor returns the limit that applies to the request: the plan named
// by rate_from, else the default.
func (z *RateLimitZone) limitFor(repl *caddy.Replacer) *limiter.ZoneLimit {
	if z.RateFrom == "" || repl == nil {
		return z.zone.Default
	}
	var plan string
	if name, ok := singlePlaceholder(z.RateFrom); ok {
		v, _ := repl.Get(name)
		plan, _ = v.(string)
	} else {
		plan = repl.ReplaceKnown(z.RateFrom, "")
	}
	return z.zone.Limit(plan)
}

// singlePlaceholder reports whether s is exactly one placeholder, and its
// name: then the value is read without building a string.
func singlePlaceholder(s string) (string, bool) {
	if len(s) < 3 || s[0] != '{' || s[len(s)-1] != '}' || strings.ContainsAny(s[1:len(s)-1], "{}") {
		return "", false
	}
	return s[1 : len(s)-1], true
}

// openLimit attaches one limit of zone z to its counters: on the Redis
// connection, or a pooled memory table.
func (rl *RateLimit) openLimit(z *RateLimitZone, zl *limiter.ZoneLimit, conn *limiter.RedisConn) error {
	if conn != nil {
		lim, err := conn.Zone(z.Name+":"+zl.Signature(), zl.Policy)
		if err != nil {
			return fmt.Errorf("apigw_rate_limit zone %s: %w", z.Name, err)
		}
		zl.Limiter = lim
		return nil
	}
	key := "memory|" + z.Name + "|" + zl.Signature() + "|" + strconv.Itoa(z.MaxKeys)
	name, maxKeys, logger := z.Name, z.MaxKeys, rl.logger
	val, _, err := rateLimitState.LoadOrNew(key, func() (caddy.Destructor, error) {
		m, err := limiter.NewMemoryTable(zl.Policy, limiter.MemoryOptions{
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
	zl.Limiter = val.(memTable).MemoryTable
	return nil
}

// parsePlan reads `plan <name> <events>/<window>` inside a zone block;
// the zone's one check (limiter.CheckZone) judges the values.
func parsePlan(z *RateLimitZone, args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("apigw_rate_limit zone %s: plan needs <name> <events>/<window>, e.g. plan gold 1000/1m", z.Name)
	}
	name, rate := args[0], args[1]
	if _, dup := z.Plans[name]; dup {
		return fmt.Errorf("apigw_rate_limit zone %s: plan %s is declared twice", z.Name, name)
	}
	if z.Plans == nil {
		z.Plans = map[string]string{}
	}
	z.Plans[name] = rate
	return nil
}
