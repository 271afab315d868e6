package caddymodule

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
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

// keyTemplate is a parsed zone key: literal text and placeholders.
type keyTemplate struct {
	parts []keyPart
	// ipv6Bits groups client-address parts by this IPv6 prefix length
	// (ipBucket); 0 or 128 keeps every address apart.
	ipv6Bits int
}

type keyPart struct {
	lit         string
	placeholder string // set for a placeholder part
	ip          bool   // the placeholder is the client's address
}

func parseKeyTemplate(s string) (keyTemplate, error) {
	var kt keyTemplate
	hasPlaceholder := false
	for len(s) > 0 {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			kt.parts = append(kt.parts, keyPart{lit: s})
			break
		}
		if i > 0 {
			kt.parts = append(kt.parts, keyPart{lit: s[:i]})
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return kt, fmt.Errorf("unclosed placeholder in %q", s)
		}
		name := s[i+1 : i+j]
		if name == "" {
			return kt, fmt.Errorf("empty placeholder in %q", s)
		}
		if full, ok := keyShorthands[name]; ok {
			name = full
		}
		kt.parts = append(kt.parts, keyPart{placeholder: name, ip: ipKeyPlaceholders[name]})
		hasPlaceholder = true
		s = s[i+j+1:]
	}
	if !hasPlaceholder {
		return kt, fmt.Errorf("%q has no placeholder, so every request would share one bucket; use e.g. {http.auth.user.id} or {client_ip}", strings.Join(partsText(kt.parts), ""))
	}
	return kt, nil
}

func partsText(parts []keyPart) []string {
	out := make([]string, len(parts))
	for i, p := range parts {
		if p.placeholder != "" {
			out[i] = "{" + p.placeholder + "}"
		} else {
			out[i] = p.lit
		}
	}
	return out
}

// eval builds the key for a request. ok is false if any placeholder is
// unknown or empty: a missing component would otherwise merge clients
// into one bucket. A key that is a single placeholder holding a string is
// returned without allocating.
func (kt keyTemplate) eval(repl *caddy.Replacer) (string, bool) {
	if len(kt.parts) == 1 {
		v, ok := lookupString(repl, kt.parts[0].placeholder)
		if ok && kt.parts[0].ip {
			v = ipBucket(v, kt.ipv6Bits)
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
			v = ipBucket(v, kt.ipv6Bits)
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
	ip = ipBucket(ip, z.key.ipv6Bits)
	// a namespace of its own: a fallback key never equals a real key
	return "\x00client_ip\x00" + ip, true
}
