package caddymodule

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/apigw/caddy-apigw/limiter"
)

// keyShorthands maps the Caddyfile placeholder shorthands that make sense
// in a rate-limit key to their full names, so JSON configs may use them
// too (the Caddyfile adapter expands them before we see them).
var keyShorthands = map[string]string{
	"client_ip":   "http.vars.client_ip",
	"path":        "http.request.uri.path",
	"host":        "http.request.host",
	"method":      "http.request.method",
	"remote_host": "http.request.remote.host",
	"uri":         "http.request.uri",
}

// ipKeyPlaceholders are the key placeholders whose value is the client's
// address: they are grouped by the zone's IPv6 prefix.
var ipKeyPlaceholders = map[string]bool{
	"http.vars.client_ip":      true,
	"http.request.remote.host": true,
}

// keyTemplate is a zone key (limiter.Key) with Caddy's placeholder names.
type keyTemplate struct {
	parts []keyPart
	// ipv6Bits groups client-address parts by this IPv6 prefix length
	// (limiter.IPBucket); 0 or 128 keeps every address apart.
	ipv6Bits int
}

type keyPart struct {
	lit         string
	placeholder string // set for a placeholder part
	ip          bool   // the placeholder is the client's address
}

// newKeyTemplate expands the shorthands of a checked key.
func newKeyTemplate(k limiter.Key, ipv6Bits int) keyTemplate {
	kt := keyTemplate{parts: make([]keyPart, len(k.Parts)), ipv6Bits: ipv6Bits}
	for i, p := range k.Parts {
		name := p.Placeholder
		if full, ok := keyShorthands[name]; ok {
			name = full
		}
		kt.parts[i] = keyPart{lit: p.Lit, placeholder: name, ip: ipKeyPlaceholders[name]}
	}
	return kt
}

// eval builds the key for a request. ok is false if any placeholder is
// unknown or empty: a missing component would otherwise merge clients
// into one bucket. A key that is a single placeholder holding a string is
// returned without allocating.
func (kt keyTemplate) eval(repl *caddy.Replacer) (string, bool) {
	if len(kt.parts) == 1 {
		v, ok := lookupString(repl, kt.parts[0].placeholder)
		if ok && kt.parts[0].ip {
			v = limiter.IPBucket(v, kt.ipv6Bits)
		}
		return v, ok
	}
	var b strings.Builder
	for _, p := range kt.parts {
		if p.placeholder == "" {
			b.WriteString(p.lit)
			continue
		}
		v, ok := lookupString(repl, p.placeholder)
		if !ok {
			return "", false
		}
		if p.ip {
			v = limiter.IPBucket(v, kt.ipv6Bits)
		}
		b.WriteString(v)
	}
	return b.String(), true
}

func lookupString(repl *caddy.Replacer, name string) (string, bool) {
	v, ok := repl.Get(name)
	if !ok || v == nil {
		return "", false
	}
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case []string:
		s = strings.Join(x, ",")
	case fmt.Stringer:
		s = x.String()
	default:
		s = fmt.Sprint(x)
	}
	return s, s != ""
}

// keyFor evaluates z's key. ok is false when the key is empty and the
// configured behaviour is not a fallback.
func (rl *RateLimit) keyFor(z *RateLimitZone, repl *caddy.Replacer, r *http.Request) (string, bool) {
	if repl != nil {
		if k, ok := z.key.eval(repl); ok {
			return k, true
		}
	}
	if rl.EmptyKey != EmptyKeyClientIP {
		return "", false
	}
	ip, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
	if ip == "" {
		ip = r.RemoteAddr
	}
	return limiter.FallbackKey(ip, z.key.ipv6Bits), true
}

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
