package caddymodule

import (
	"fmt"
	"net/netip"
	"strconv"
	"sync/atomic"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// DefaultIPv6Prefix is the prefix length by which client-IP rate-limit
// keys group IPv6 addresses. One IPv6 subscriber (a home, a phone, a VPS)
// normally gets a whole /64 (RFC 6177, RIPE-690) and can rotate through
// its 2^64 addresses at will, so a per-address bucket is no limit at all.
// /64 is the smallest block one client reliably controls; express-rate-
// limit groups by /56 (many ISPs delegate a /56 per customer), which is
// stricter but puts up to 256 neighbouring networks in one bucket.
// Deployments that see many customers of such an ISP, or attackers with
// a /48, can set ipv6_prefix to 56 or 48.
const DefaultIPv6Prefix = 64

// ipKeyPlaceholders are the key placeholders whose value is the client's
// address: they are grouped by the zone's IPv6 prefix.
var ipKeyPlaceholders = map[string]bool{
	"http.vars.client_ip":      true,
	"http.request.remote.host": true,
}

// checkIPv6Prefix validates an ipv6_prefix setting (0 = unset).
func checkIPv6Prefix(where string, bits int) error {
	if bits < 0 || bits > 128 {
		return fmt.Errorf("%s ipv6_prefix %d: use a prefix length from 1 to 128 (default %d; 128 counts every address alone)", where, bits, DefaultIPv6Prefix)
	}
	return nil
}

// parseIPv6Prefix reads the argument of an ipv6_prefix option.
func parseIPv6Prefix(d *caddyfile.Dispenser, where string) (int, error) {
	v, err := oneArg(d)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 128 {
		return 0, d.Errf("%s ipv6_prefix %q: use a prefix length from 1 to 128 (default %d; 128 counts every address alone)", where, v, DefaultIPv6Prefix)
	}
	return n, nil
}

// ipBucket returns the rate-limit key of a client address: an IPv4
// address (or an IPv4-mapped IPv6 one, as IPv4) as it is, an IPv6
// address as its /bits prefix ("2001:db8:1:2::/64"). Anything that is not
// an IP address is returned unchanged. With a warm cache it does not
// allocate: ipBucketCache remembers the text of recent prefixes.
func ipBucket(s string, bits int) string {
	if bits <= 0 || bits >= 128 {
		return s
	}
	// a quick filter: IPv6 text always holds a ':'
	colon := false
	for i := 0; i < len(s); i++ {
		if s[i] == ':' {
			colon = true
			break
		}
	}
	if !colon {
		return s
	}
	addr, err := netip.ParseAddr(s)
	if err != nil {
		return s
	}
	if addr.Is4In6() {
		return ipBucketCache.text(addr.Unmap(), 32)
	}
	if !addr.Is6() {
		return s
	}
	return ipBucketCache.text(addr.WithZone(""), bits)
}

// bucketEntry is one remembered prefix text.
type bucketEntry struct {
	prefix netip.Prefix
	text   string
}

// bucketCache is a direct-mapped, lock-free cache of prefix texts: a
// bounded memory (bucketSlots entries) however many prefixes clients use;
// a colliding prefix replaces the slot. Hand-written because the key path
// must not allocate (measured: netip.Prefix.String allocates its text on
// every call, BenchmarkIPBucket) and a general cache (otter) costs more
// than the text it would save.
type bucketCache struct {
	slots [bucketSlots]atomic.Pointer[bucketEntry]
}

const bucketSlots = 4096

var ipBucketCache bucketCache

func (c *bucketCache) text(addr netip.Addr, bits int) string {
	p, err := addr.Prefix(bits)
	if err != nil {
		return addr.String()
	}
	a := p.Addr().As16()
	var h uint64 = 14695981039346656037
	for _, b := range a {
		h ^= uint64(b)
		h *= 1099511628211
	}
	h ^= uint64(bits)
	slot := &c.slots[h%bucketSlots]
	if e := slot.Load(); e != nil && e.prefix == p {
		return e.text
	}
	e := &bucketEntry{prefix: p, text: p.String()}
	slot.Store(e)
	return e.text
}

// provisionIPv6 sets z's IPv6 grouping: the zone's own ipv6_prefix, else
// the handler's, else DefaultIPv6Prefix. Call it after z.provision.
func (rl *RateLimit) provisionIPv6(z *RateLimitZone) error {
	if err := checkIPv6Prefix("apigw_rate_limit", rl.IPv6Prefix); err != nil {
		return err
	}
	if err := checkIPv6Prefix("apigw_rate_limit zone "+z.Name, z.IPv6Prefix); err != nil {
		return err
	}
	bits := DefaultIPv6Prefix
	if rl.IPv6Prefix != 0 {
		bits = rl.IPv6Prefix
	}
	if z.IPv6Prefix != 0 {
		bits = z.IPv6Prefix
	}
	z.key.ipv6Bits = bits
	return nil
}
