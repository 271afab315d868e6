package sessions

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// SafeMethod reports whether method is safe (RFC 9110): GET, HEAD,
// OPTIONS or TRACE. CSRF checks apply to the others.
func SafeMethod(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

// OriginPolicy decides whether an unsafe, cookie-authenticated request
// comes from the site itself (or a trusted origin) rather than from a
// page on another site.
type OriginPolicy struct {
	// Trusted lists extra origins ("https://app.example.com") whose pages
	// may send unsafe requests, compared exactly (scheme, host, port).
	Trusted []string
	// AllowMissing lets through requests carrying none of Sec-Fetch-Site,
	// Origin and Referer (non-browser clients). Off by default: every
	// current browser sends Origin or Sec-Fetch-Site on unsafe requests.
	AllowMissing bool
	// AllowSameSite accepts requests from other origins of the same site
	// (Sec-Fetch-Site: same-site, e.g. another port or subdomain). Used
	// for login, where only cross-site requests are refused.
	AllowSameSite bool
}

// NormalizeOrigin returns the canonical form of an origin
// ("scheme://host[:port]", lower case, default port dropped), or an error
// if s is not one.
func NormalizeOrigin(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("%q is not an origin: use scheme://host[:port], e.g. https://app.example.com", s)
	}
	return canonOrigin(u.Scheme, u.Host), nil
}

func canonOrigin(scheme, host string) string {
	scheme, host = strings.ToLower(scheme), strings.ToLower(host)
	if (scheme == "http" && strings.HasSuffix(host, ":80")) || (scheme == "https" && strings.HasSuffix(host, ":443")) {
		host = host[:strings.LastIndexByte(host, ':')]
	}
	return scheme + "://" + host
}

// RequestOrigin returns the site's own origin for r: its scheme (https
// when r came over TLS) and Host.
func RequestOrigin(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return canonOrigin(scheme, r.Host)
}

// Check returns "" if r may proceed, or the reason it is rejected as a
// cross-site request. Safe methods always proceed.
func (p OriginPolicy) Check(r *http.Request) string {
	if SafeMethod(r.Method) {
		return ""
	}
	origin := r.Header.Get("Origin")
	switch sfs := r.Header.Get("Sec-Fetch-Site"); sfs {
	case "same-origin", "none":
		return ""
	case "":
	case "same-site":
		if p.AllowSameSite || (origin != "" && p.trusted(origin)) {
			return ""
		}
		return "cross-origin request refused (Sec-Fetch-Site: same-site)"
	default:
		if origin != "" && p.trusted(origin) {
			return ""
		}
		return "cross-site request refused (Sec-Fetch-Site: " + sanitizeToken(sfs) + ")"
	}
	from, what := origin, "Origin"
	if from == "" {
		from, what = r.Header.Get("Referer"), "Referer"
		if from == "" {
			if p.AllowMissing {
				return ""
			}
			return "unsafe request without Origin, Referer or Sec-Fetch-Site header"
		}
	}
	u, err := url.Parse(from)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return what + " header is not a valid origin"
	}
	o := canonOrigin(u.Scheme, u.Host)
	if o == RequestOrigin(r) || p.trusted(o) {
		return ""
	}
	return "cross-origin request refused (" + what + " does not match the site or a trusted origin)"
}

func (p OriginPolicy) trusted(origin string) bool {
	if len(p.Trusted) == 0 {
		return false
	}
	o, err := NormalizeOrigin(origin)
	if err != nil {
		return false
	}
	for _, t := range p.Trusted {
		if t == o {
			return true
		}
	}
	return false
}

// sanitizeToken keeps a header value printable and short for a problem
// detail.
func sanitizeToken(s string) string {
	if len(s) > 20 {
		s = s[:20]
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c == '-') {
			return "unrecognized value"
		}
	}
	return s
}

// CSRFToken derives the double-submit token of a session token:
// base64url(HMAC-SHA256(token, "apigw-csrf")). It is bound to the session
// (a token planted by another site or subdomain never matches) and reveals
// nothing about the session token, so pages may read it from a
// non-HttpOnly cookie.
func CSRFToken(sessionToken string) string {
	mac := hmac.New(sha256.New, []byte(sessionToken))
	mac.Write([]byte("apigw-csrf"))
	var sum [32]byte
	return base64.RawURLEncoding.EncodeToString(mac.Sum(sum[:0]))
}

// CSRFTokenMatches compares a client-sent token with the expected one in
// constant time.
func CSRFTokenMatches(sent, expected string) bool {
	return len(sent) == len(expected) && subtle.ConstantTimeCompare([]byte(sent), []byte(expected)) == 1
}
