package edge

import (
	"net/http"
	"strings"
)

// HeaderOptions relaxes the header hygiene pass. The zero value is the
// secure default.
type HeaderOptions struct {
	// AllowMethodOverride keeps X-HTTP-Method-Override, X-HTTP-Method
	// and X-Method-Override: a client can then make an upstream run
	// another method than the one the gateway's matchers saw.
	AllowMethodOverride bool
	// AllowTrailers keeps the client's declared Trailer header (the
	// caller keeps the trailers themselves); gateway-owned names are
	// removed from them all the same.
	AllowTrailers bool
	// TrustedProxy says the request comes from a proxy listed in the
	// server's trusted_proxies: its client-address and forwarding
	// headers (Forwarded, X-Real-IP, X-Forwarded-Host, …) are kept.
	TrustedProxy bool
}

// Result says what Clean removed that the caller may need.
type Result struct {
	// Upgrade is the Upgrade header value set aside (the client also
	// named "upgrade" in Connection), for a route that opts in.
	Upgrade string
}

// header classes
const (
	kindOther        = iota
	kindOwned        // X-Auth-*: set by the gateway only
	kindRouting      // X-Original-URL and friends: always dropped
	kindOverride     // X-HTTP-Method-Override and friends
	kindClientAddr   // Forwarded, X-Real-IP, X-Forwarded-Host, …
	kindConnection   // Connection
	kindUpgrade      // Upgrade
	kindHTTP2Setting // HTTP2-Settings (h2c upgrade)
	kindTrailer      // Trailer
)

// Clean applies the header hygiene of the edge to h, in place, in one
// pass over its keys:
//   - X-Auth-* from the client is removed (identity comes from the
//     gateway's auth handlers only);
//   - X-Original-URL, X-Rewrite-URL, X-Override-URL are removed, and the
//     method override headers unless allowed;
//   - client-address and forwarding headers (Forwarded, X-Real-IP,
//     True-Client-IP, X-Client-IP, CF-Connecting-IP, X-Cluster-Client-IP,
//     Fastly-Client-IP, X-Forwarded-Host/-Proto/-Port/-Prefix/-Server/
//     -Uri/-Path/-Scheme/-Ssl, X-Host, Front-End-Https) are removed
//     unless the peer is a trusted proxy (X-Forwarded-For is left to the
//     reverse proxy, which rebuilds it from the client IP);
//   - the headers the client named in Connection are removed now (they
//     are the client's hop-by-hop headers), then Connection itself, so
//     the proxy cannot later remove a header the gateway set;
//   - Upgrade is set aside (returned) and removed, HTTP2-Settings
//     removed: an upgrade happens only on a route that opts in;
//   - the Trailer declaration is removed unless allowed.
//
// A clean request (no such header) costs no allocation.
func Clean(h http.Header, o HeaderOptions) Result {
	var res Result
	var conn []string
	upgradeToken := false
	for k, v := range h {
		switch classify(k) {
		case kindOther:
		case kindOwned, kindRouting:
			delete(h, k)
		case kindOverride:
			if !o.AllowMethodOverride {
				delete(h, k)
			}
		case kindClientAddr:
			if !o.TrustedProxy {
				delete(h, k)
			}
		case kindConnection:
			conn = v
			delete(h, k)
		case kindUpgrade:
			if len(v) > 0 {
				res.Upgrade = v[0]
			}
			delete(h, k)
		case kindHTTP2Setting:
			delete(h, k)
		case kindTrailer:
			if !o.AllowTrailers {
				delete(h, k)
			}
		}
	}
	for _, line := range conn {
		for line != "" {
			var tok string
			tok, line, _ = strings.Cut(line, ",")
			tok = strings.TrimSpace(tok)
			switch {
			case tok == "", strings.EqualFold(tok, "close"), strings.EqualFold(tok, "keep-alive"):
			case strings.EqualFold(tok, "upgrade"):
				upgradeToken = true
			default:
				// the client's own hop-by-hop header: drop it here,
				// before any gateway handler sets a header of that name
				h.Del(tok)
			}
		}
	}
	if !upgradeToken {
		res.Upgrade = ""
	}
	return res
}

// IsGatewayOwned reports whether a header (or trailer) name belongs to
// the gateway and must never come from the client: X-Auth-*,
// X-Request-ID, routing, override and client-address headers.
func IsGatewayOwned(k string) bool {
	switch classify(k) {
	case kindOwned, kindRouting, kindOverride, kindClientAddr, kindConnection, kindUpgrade, kindHTTP2Setting, kindTrailer:
		return true
	}
	return strings.EqualFold(k, "X-Request-Id") || hasPrefixFold(k, "X-Forwarded-")
}

// classify sorts a header name, case-insensitively, without allocating:
// most names are rejected by their length and first byte.
func classify(k string) int {
	if len(k) < 6 {
		return kindOther
	}
	switch k[0] | 0x20 {
	case 'x':
		if hasPrefixFold(k, "X-Auth-") {
			return kindOwned
		}
		for _, c := range routingNames {
			if len(k) == len(c) && strings.EqualFold(k, c) {
				return kindRouting
			}
		}
		for _, c := range overrideNames {
			if len(k) == len(c) && strings.EqualFold(k, c) {
				return kindOverride
			}
		}
		for _, c := range clientAddrNames {
			if len(k) == len(c) && strings.EqualFold(k, c) {
				return kindClientAddr
			}
		}
	case 'f':
		if strings.EqualFold(k, "Forwarded") || strings.EqualFold(k, "Front-End-Https") || strings.EqualFold(k, "Fastly-Client-Ip") {
			return kindClientAddr
		}
	case 't':
		if strings.EqualFold(k, "True-Client-Ip") {
			return kindClientAddr
		}
		if strings.EqualFold(k, "Trailer") {
			return kindTrailer
		}
	case 'c':
		if strings.EqualFold(k, "Connection") {
			return kindConnection
		}
		if strings.EqualFold(k, "Cf-Connecting-Ip") {
			return kindClientAddr
		}
	case 'u':
		if strings.EqualFold(k, "Upgrade") {
			return kindUpgrade
		}
	case 'h':
		if strings.EqualFold(k, "Http2-Settings") {
			return kindHTTP2Setting
		}
	}
	return kindOther
}

var (
	routingNames    = []string{"X-Original-Url", "X-Rewrite-Url", "X-Override-Url", "X-Original-Uri", "X-Rewrite-Uri"}
	overrideNames   = []string{"X-Http-Method-Override", "X-Http-Method", "X-Method-Override"}
	clientAddrNames = []string{
		"X-Real-Ip", "X-Client-Ip", "X-Cluster-Client-Ip", "X-Forwarded-Host", "X-Forwarded-Proto",
		"X-Forwarded-Port", "X-Forwarded-Prefix", "X-Forwarded-Server", "X-Forwarded-Uri",
		"X-Forwarded-Path", "X-Forwarded-Scheme", "X-Forwarded-Ssl", "X-Url-Scheme", "X-Host",
		"X-Proxyuser-Ip", "X-Originating-Ip", "X-Remote-Ip", "X-Remote-Addr",
	}
)

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
