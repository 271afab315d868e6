package caddymodule

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/apigw/caddy-apigw/limiter"
)

func init() {
	registerGatewayHandlerDirective("apigw_rate_limit", parseRateLimit)
}

// parseRateLimit sets up the apigw_rate_limit handler. Its position in the
// directive order (after authentication, so keys can use the identity) is
// registered in order.go.
//
// Syntax:
//
//	apigw_rate_limit [<matcher>] {
//	    zone <name> {
//	        key <placeholder>...        # several values are joined with "|"
//	        rate <events>/<window>      # e.g. 100/1m, 5/15m, 10000/calendar_day
//	        rate_from <placeholder>     # or: the rate of the consumer's plan, e.g. {http.auth.user.tier}
//	        plan <name> <events>/<window> # one per plan; plan default … is required
//	        burst <n>                   # default: events (gcra only)
//	        algorithm gcra|sliding_window # default gcra
//	        count_status <code>...      # only these response statuses count
//	        match <request matcher>     # e.g. match method POST, or match { … }
//	        max_keys <n>                # memory store cap (default 100000)
//	        ipv6_prefix <bits>          # overrides the handler's ipv6_prefix
//	    }
//	    zone ...
//	    on_store_error fail_open|fail_closed   # default fail_open
//	    store_timeout <duration>               # default 100ms
//	    legacy_headers
//	    empty_key client_ip|deny|skip          # default client_ip
//	    ipv6_prefix <bits>                     # IPv6 client grouping, default 64
//	}
func parseRateLimit(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	rl := new(RateLimit)
	err := rl.UnmarshalCaddyfile(h.Dispenser)
	return rl, err
}

// UnmarshalCaddyfile implements caddyfile.Unmarshaler (syntax at
// parseRateLimit).
func (rl *RateLimit) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // consume directive name
	if d.NextArg() {
		return d.Errf("apigw_rate_limit takes no arguments besides a matcher; configure it in a block")
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "zone":
			z, err := parseZone(d)
			if err != nil {
				return err
			}
			rl.Zones = append(rl.Zones, z)
		case "on_store_error":
			v, err := oneArg(d)
			if err != nil {
				return err
			}
			rl.OnStoreError = v
		case "store_timeout":
			v, err := oneArg(d)
			if err != nil {
				return err
			}
			dur, err := caddy.ParseDuration(v)
			if err != nil || dur <= 0 {
				return d.Errf("apigw_rate_limit store_timeout %q: want a positive duration such as 100ms", v)
			}
			rl.StoreTimeout = caddy.Duration(dur)
		case "legacy_headers":
			if d.NextArg() {
				return d.ArgErr()
			}
			rl.LegacyHeaders = true
		case "empty_key":
			v, err := oneArg(d)
			if err != nil {
				return err
			}
			rl.EmptyKey = v
		case "ipv6_prefix":
			n, err := parseIPv6Prefix(d, "apigw_rate_limit")
			if err != nil {
				return err
			}
			rl.IPv6Prefix = n
		default:
			return d.Errf("apigw_rate_limit: unknown option %q (known: zone, on_store_error, store_timeout, legacy_headers, empty_key, ipv6_prefix)", d.Val())
		}
	}
	if err := rl.check(); err != nil {
		return d.Errf("%v", err)
	}
	return nil
}

func oneArg(d *caddyfile.Dispenser) (string, error) {
	if !d.NextArg() {
		return "", d.ArgErr()
	}
	v := d.Val()
	if d.NextArg() {
		return "", d.ArgErr()
	}
	return v, nil
}

func parseZone(d *caddyfile.Dispenser) (*RateLimitZone, error) {
	z := new(RateLimitZone)
	if !d.NextArg() {
		return nil, d.Errf("apigw_rate_limit: zone needs a name: zone <name> { … }")
	}
	z.Name = d.Val()
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "key":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return nil, d.Errf("apigw_rate_limit zone %s: key needs a value, e.g. key {http.auth.user.id}", z.Name)
			}
			z.Key = strings.Join(args, "|")
		case "rate":
			v, err := oneArg(d)
			if err != nil {
				return nil, err
			}
			z.Rate = v
		case "rate_from":
			v, err := oneArg(d)
			if err != nil {
				return nil, err
			}
			z.RateFrom = v
		case "plan":
			if err := parsePlan(z, d.RemainingArgs()); err != nil {
				return nil, d.Err(err.Error())
			}
		case "burst":
			v, err := oneArg(d)
			if err != nil {
				return nil, err
			}
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n <= 0 {
				return nil, d.Errf("apigw_rate_limit zone %s: burst %q must be a positive integer", z.Name, v)
			}
			z.Burst = n
		case "algorithm":
			v, err := oneArg(d)
			if err != nil {
				return nil, err
			}
			z.Algorithm = v
		case "count_status":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return nil, d.Errf("apigw_rate_limit zone %s: count_status needs at least one status, e.g. count_status 401", z.Name)
			}
			for _, a := range args {
				c, err := strconv.Atoi(a)
				if err != nil || c < 100 || c > 599 {
					return nil, d.Errf("apigw_rate_limit zone %s: count_status %q is not an HTTP status", z.Name, a)
				}
				z.CountStatus = append(z.CountStatus, c)
			}
		case "match":
			if z.MatchRaw != nil {
				return nil, d.Errf("apigw_rate_limit zone %s: match given twice; put all matchers in one match { … } block", z.Name)
			}
			set, err := caddyhttp.ParseCaddyfileNestedMatcherSet(d)
			if err != nil {
				return nil, err
			}
			if len(set) == 0 {
				return nil, d.Errf("apigw_rate_limit zone %s: match needs a matcher, e.g. match method POST", z.Name)
			}
			z.MatchRaw = set
		case "max_keys":
			v, err := oneArg(d)
			if err != nil {
				return nil, err
			}
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				return nil, d.Errf("apigw_rate_limit zone %s: max_keys %q must be a positive integer", z.Name, v)
			}
			z.MaxKeys = n
		case "ipv6_prefix":
			n, err := parseIPv6Prefix(d, "apigw_rate_limit zone "+z.Name)
			if err != nil {
				return nil, err
			}
			z.IPv6Prefix = n
		default:
			return nil, d.Errf("apigw_rate_limit zone %s: unknown option %q (known: key, rate, rate_from, plan, burst, algorithm, count_status, match, max_keys, ipv6_prefix)", z.Name, d.Val())
		}
	}
	if _, err := z.check(); err != nil {
		return nil, d.Errf("%v", err)
	}
	return z, nil
}

// parseIPv6Prefix reads the argument of an ipv6_prefix option.
func parseIPv6Prefix(d *caddyfile.Dispenser, where string) (int, error) {
	v, err := oneArg(d)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 128 {
		return 0, d.Errf("%s ipv6_prefix %q: use a prefix length from 1 to 128 (default %d; 128 counts every address alone)", where, v, limiter.DefaultIPv6Prefix)
	}
	return n, nil
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

// Interface guards
var _ caddyfile.Unmarshaler = (*RateLimit)(nil)
