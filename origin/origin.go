// Package origin is caddy-apigw's one normaliser of web origins
// (RFC 6454 "scheme://host[:port]"), shared by CORS (which origins may
// read responses) and CSRF defence (which origins may send unsafe
// requests). Scheme and host are lower-cased and the scheme's default
// port (80 for http, 443 for https) is dropped, as browsers do when they
// serialise an Origin header. It has no Caddy imports.
package origin

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Canonical returns "scheme://host[:port]" with scheme and host lower
// case and the scheme's default port dropped. A bracketed IPv6 host
// without a port is kept as is.
func Canonical(scheme, host string) string {
	scheme, host = strings.ToLower(scheme), strings.ToLower(host)
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.HasSuffix(host, "]") {
		host = host[:i] + trimDefaultPort(scheme, host[i:])
	}
	return scheme + "://" + host
}

// trimDefaultPort returns port (":443") or "" when it is scheme's
// default port.
func trimDefaultPort(scheme, port string) string {
	if (scheme == "http" && port == ":80") || (scheme == "https" && port == ":443") {
		return ""
	}
	return port
}

// Parse returns the canonical form of a configured origin: an http or
// https URL with a host and nothing after it (a trailing "/" is allowed),
// or an error naming the fix.
func Parse(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil || !validAuthority(u.Host) {
		return "", fmt.Errorf("%q is not an origin: use scheme://host[:port], e.g. https://app.example.com", s)
	}
	return Canonical(u.Scheme, u.Host), nil
}

// FromHeader returns the canonical origin of an Origin or Referer request
// header value (any URL with a scheme and a host; a Referer's path and
// query are ignored). ok is false when v is not one ("null" included).
func FromHeader(v string) (o string, ok bool) {
	u, err := url.Parse(v)
	if err != nil || u.Scheme == "" || u.Host == "" || !validAuthority(u.Host) {
		return "", false
	}
	return Canonical(u.Scheme, u.Host), true
}

// validAuthority reports whether hostport ("host[:port]") is what a
// browser serialises in an origin: a bracketed IPv6 literal, or an ASCII
// name or IPv4 address (letters, digits, '-', '.', '_'), and at most one
// port of digits. "localhost:3000:80" is not one: read as a host with
// port 80, Canonical would turn it into an allowed "localhost:3000".
func validAuthority(hostport string) bool {
	if strings.HasPrefix(hostport, "[") {
		end := strings.IndexByte(hostport, ']')
		return end > 1 && (end == len(hostport)-1 || validPort(hostport[end+1:]))
	}
	host := hostport
	if i := strings.IndexByte(hostport, ':'); i >= 0 {
		host = hostport[:i]
		if !validPort(hostport[i:]) {
			return false
		}
	}
	if host == "" {
		return false
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '.', c == '_':
		default:
			return false
		}
	}
	return true
}

// validPort reports whether p is ":" followed by 1 to 5 digits.
func validPort(p string) bool {
	if len(p) < 2 || len(p) > 6 || p[0] != ':' {
		return false
	}
	for i := 1; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
	}
	return true
}

// OfRequest returns the site's own origin for r: https when r came over
// TLS, else http, and r's Host.
func OfRequest(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return Canonical(scheme, r.Host)
}
