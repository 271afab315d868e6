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
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("%q is not an origin: use scheme://host[:port], e.g. https://app.example.com", s)
	}
	return Canonical(u.Scheme, u.Host), nil
}

// FromHeader returns the canonical origin of an Origin or Referer request
// header value (any URL with a scheme and a host; a Referer's path and
// query are ignored). ok is false when v is not one ("null" included).
func FromHeader(v string) (o string, ok bool) {
	u, err := url.Parse(v)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", false
	}
	return Canonical(u.Scheme, u.Host), true
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
