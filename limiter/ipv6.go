package limiter

import (
	"net/netip"
	"sync/atomic"
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

// IPBucket returns the rate-limit key of a client address: an IPv4
// address (or an IPv4-mapped IPv6 one, as IPv4) as it is, an IPv6
// address as its /bits prefix ("2001:db8:1:2::/64"). Anything that is not
// an IP address is returned unchanged. With a warm cache it does not
// allocate: ipBucketCache remembers the text of recent prefixes.
func IPBucket(s string, bits int) string {
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
// every call, BenchmarkIPBucket in caddymodule) and a general cache (otter) costs more
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
