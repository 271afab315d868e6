package edge

import (
	"net/http"
	"strings"
)

// Result says what Clean removed that the caller may need.
type Result struct {
	// Upgrade is the Upgrade header value set aside (the client also
	// named "upgrade" in Connection), for a route that opts in.
	Upgrade string
	// ClientAddr says h holds client-address or forwarding headers
	// (Forwarded, X-Real-IP, X-Forwarded-Host, …), left in place: the
	// caller removes them with DropClientAddr unless the peer is a
	// trusted proxy (that lookup is left to the caller so a clean
	// request does not pay for it).
	ClientAddr bool
}

// DropClientAddr removes the client-address and forwarding headers
// (see Clean) from h.
func DropClientAddr(h http.Header) {
	for k := range h {
		if classify(k) == kindClientAddr {
			delete(h, k)
		}
	}
}

// header classes
const (
	kindOther        = iota
	kindOwned        // X-Auth-*: set by the gateway only
	kindIdentity     // identity asserted by another auth proxy: always dropped
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
//     gateway's auth handlers only), and so are the identity and
//     credential headers other auth proxies set for their upstream
//     (oauth2-proxy, Pomerium, AWS ALB, Azure App Service, Kong,
//     Traefik forward-auth, Envoy, Istio, Google IAP, Cloudflare
//     Access: Remote-User, X-Forwarded-User, X-Amzn-Oidc-*,
//     X-Consumer-*, X-Jwt-Payload, …; see classifyX), from any peer;
//   - X-Original-URL, X-Rewrite-URL, X-Override-URL are removed, and the
//     method override headers unless allowed;
//   - client-address and forwarding headers (Forwarded, X-Real-IP,
//     True-Client-IP, X-Client-IP, CF-Connecting-IP, X-Cluster-Client-IP,
//     Fastly-Client-IP, X-Forwarded, Forwarded-For, every X-Forwarded-*
//     but -For, X-Host, Front-End-Https, X-Envoy-*) are reported
//     for DropClientAddr, which the caller runs unless the peer is a
//     trusted proxy (X-Forwarded-For is left to the reverse proxy, which
//     rebuilds it from the client IP the same way);
//   - the headers the client named in Connection are removed now (they
//     are the client's hop-by-hop headers), then Connection itself, so
//     the proxy cannot later remove a header the gateway set (a
//     Connection of only close/keep-alive tokens is left as it is);
//   - Upgrade is set aside (returned) and removed, HTTP2-Settings
//     removed: an upgrade happens only on a route that opts in;
//   - the Trailer declaration is removed unless allowed.
//
// A clean request (no such header) costs no allocation.
func Clean(h http.Header, o Options) Result {
	var res Result
	var conn []string
	var connKey string
	upgradeToken, foreign := false, false
	for k, v := range h {
		switch classify(k) {
		case kindOther:
		case kindOwned, kindIdentity, kindRouting:
			delete(h, k)
		case kindOverride:
			if !o.AllowMethodOverride {
				delete(h, k)
			}
		case kindClientAddr:
			res.ClientAddr = true
		case kindConnection:
			conn, connKey = v, k
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
				foreign = true
				// the client's own hop-by-hop header: drop it here,
				// before any gateway handler sets a header of that name
				h.Del(tok)
			}
		}
	}
	if upgradeToken || foreign {
		// nothing left for the proxy to act on; a Connection of only
		// close/keep-alive stays (an HTTP/1.0 keep-alive needs it)
		delete(h, connKey)
	}
	if !upgradeToken {
		res.Upgrade = ""
	}
	return res
}

// IsGatewayOwned reports whether a header (or trailer) name belongs to
// the gateway and must never come from the client: X-Auth-*,
// X-Request-ID, other auth proxies' identity headers, routing,
// override and client-address headers.
func IsGatewayOwned(k string) bool {
	switch classify(k) {
	case kindOwned, kindIdentity, kindRouting, kindOverride, kindClientAddr, kindConnection, kindUpgrade, kindHTTP2Setting, kindTrailer:
		return true
	}
	return strings.EqualFold(k, "X-Request-Id") || hasPrefixFold(k, "X-Forwarded-")
}

// classify sorts a header name, case-insensitively, without allocating
// for the canonical keys net/http hands over ("X-Auth-User"), which
// string switches and prefix tests match directly; a key that is not in
// canonical form (set by hand, or by another server implementation) is
// canonicalised first (one allocation, on that rare path only).
func classify(k string) int {
	if len(k) < 6 {
		return kindOther
	}
	if !canonical(k) {
		return classifyCanonical(canonicalize(k))
	}
	return classifyCanonical(k)
}

// classifyCanonical is classify for a key in canonical form.
func classifyCanonical(k string) int {
	switch k[0] {
	case 'X':
		if k[1] == '-' {
			return classifyX(k)
		}
		return kindOther
	case 'F', 'T', 'C', 'U', 'H', 'R', 'G':
	default:
		// no name of ours starts otherwise in canonical form
		return kindOther
	}
	switch k {
	case "Forwarded", "Forwarded-For", "Front-End-Https", "Fastly-Client-Ip", "True-Client-Ip", "Cf-Connecting-Ip":
		return kindClientAddr
	case "Connection":
		return kindConnection
	case "Upgrade":
		return kindUpgrade
	case "Http2-Settings":
		return kindHTTP2Setting
	case "Trailer":
		return kindTrailer
	case "Gap-Auth": // oauth2-proxy
		return kindIdentity
	}
	if strings.HasPrefix(k, "Remote-") || // Authelia, Apache: Remote-User, Remote-Groups, …
		strings.HasPrefix(k, "Cf-Access-") { // Cloudflare Access
		return kindIdentity
	}
	return kindOther
}

// classifyX is classify for a canonical key starting with "X-".
func classifyX(k string) int {
	if strings.HasPrefix(k, "X-Auth-") {
		return kindOwned
	}
	switch k {
	case "X-Original-Url", "X-Rewrite-Url", "X-Override-Url", "X-Original-Uri", "X-Rewrite-Uri":
		return kindRouting
	case "X-Http-Method-Override", "X-Http-Method", "X-Method-Override":
		return kindOverride
	case "X-Forwarded-For":
		// left to the reverse proxy, which rebuilds it from the client
		// IP (keeping a trusted proxy's list)
		return kindOther
	case "X-User-Agent": // not an identity (some SDKs send it)
		return kindOther
	case "X-Forwarded", "X-Real-Ip", "X-Client-Ip", "X-Cluster-Client-Ip", "X-Url-Scheme", "X-Host",
		"X-Proxyuser-Ip", "X-Originating-Ip", "X-Remote-Ip", "X-Remote-Addr", "X-Original-Forwarded-For":
		return kindClientAddr
	case "X-Forwarded-User", "X-Forwarded-Email", "X-Forwarded-Preferred-Username", "X-Forwarded-Groups",
		"X-Forwarded-Access-Token", "X-Forwarded-Id-Token", "X-Forwarded-Client-Cert",
		"X-User", "X-Userinfo", "X-Id-Token", "X-Access-Token", "X-Anonymous-Consumer", "X-Client-Cert",
		"X-Client-Verify", "X-Client-Dn":
		return kindIdentity
	}
	switch k[2] {
	case 'F', 'E':
		if strings.HasPrefix(k, "X-Forwarded-") || strings.HasPrefix(k, "X-Envoy-") {
			// every other forwarding header: Host, Proto, Port, Prefix,
			// Server, Uri, Path, Scheme, Ssl, By, …
			return kindClientAddr
		}
		return kindOther
	}
	for _, p := range identityPrefixes {
		// the third byte first: most names are out after one compare
		if p[2] == k[2] && strings.HasPrefix(k, p) {
			return kindIdentity
		}
	}
	return kindOther
}

// identityPrefixes start the (canonical) names of the identity and
// credential headers that auth proxies set for their upstream: a client
// sending one could pass for anyone to an upstream that trusts it.
var identityPrefixes = [...]string{
	"X-Authenticated-",      // Kong: X-Authenticated-Scope, -Userid
	"X-Consumer-",           // Kong
	"X-Credential-",         // Kong
	"X-Remote-",             // Apache, Traefik forward-auth: X-Remote-User, -Group
	"X-Amzn-Oidc-",          // AWS ALB
	"X-Ms-Client-Principal", // Azure App Service
	"X-Ms-Token-",           // Azure App Service
	"X-Jwt-",                // Envoy, Istio: X-Jwt-Payload
	"X-Goog-Authenticated-", // Google IAP
	"X-Goog-Iap-",           // Google IAP
	"X-Pomerium-",           // Pomerium
	"X-Ssl-Client-",         // nginx-style mTLS
	"X-User-",               // X-User-Id, X-User-Email, …
}

// canonical reports whether k is in net/http's canonical form.
func canonical(k string) bool {
	upper := true
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case upper && c >= 'a' && c <= 'z', !upper && c >= 'A' && c <= 'Z':
			return false
		}
		upper = c == '-'
	}
	return true
}

// canonicalize returns k in net/http's canonical form, whatever bytes it
// holds (http.CanonicalHeaderKey leaves a key with an invalid byte as
// it is; here only the letters change).
func canonicalize(k string) string {
	b := []byte(k)
	upper := true
	for i, c := range b {
		switch {
		case upper && c >= 'a' && c <= 'z':
			b[i] = c - 'a' + 'A'
		case !upper && c >= 'A' && c <= 'Z':
			b[i] = c - 'A' + 'a'
		}
		upper = c == '-'
	}
	return string(b)
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// CheckRepeated reports a request that sends, as two header lines, a
// header the gateway decides on and that carries one item: Content-Type
// and Content-Encoding (the validator reads the first line, while an
// upstream may read the last one or join them: apigw_validate accepts a
// JSON body under `Content-Type: application/json` that an upstream then
// parses as the form named by a second line), and Origin, Referer and
// Sec-Fetch-Site (CORS and CSRF decide on the first; no browser sends
// two). net/http hands over canonical keys, so map lookups do it, with no
// allocation. Content-Length and Host are net/http's own checks already.
func CheckRepeated(h http.Header) *Refusal {
	if len(h["Content-Type"]) > 1 || len(h["Content-Encoding"]) > 1 ||
		len(h["Origin"]) > 1 || len(h["Referer"]) > 1 || len(h["Sec-Fetch-Site"]) > 1 {
		return RefuseRepeatedHeader
	}
	return nil
}
