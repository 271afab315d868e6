package sessions

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/http"

	"github.com/apigw/caddy-apigw/failure"
	"github.com/apigw/caddy-apigw/origin"
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

// NewOriginPolicy returns the policy that trusts the origins in trusted
// (each checked and normalised with origin.Parse). It is the one check of
// a trusted_origin list, for Provision and the Caddyfile parsers alike.
func NewOriginPolicy(trusted []string, allowMissing, allowSameSite bool) (OriginPolicy, error) {
	p := OriginPolicy{AllowMissing: allowMissing, AllowSameSite: allowSameSite}
	for _, o := range trusted {
		norm, err := origin.Parse(o)
		if err != nil {
			return p, fmt.Errorf("trusted_origin: %w", err)
		}
		p.Trusted = append(p.Trusted, norm)
	}
	return p, nil
}

// EndpointPolicy returns the origin policy of the endpoints that start or
// end a browser's session (login, logout, an OIDC logout): a request
// whose Sec-Fetch-Site is cross-site, or (without Sec-Fetch-Site) whose
// Origin, else Referer, is neither the site's own origin nor one of
// trusted, is refused. Same-site pages and clients that send none of
// these headers (scripts) are accepted: such endpoints carry no ambient
// authority a script could not use anyway.
func EndpointPolicy(trusted []string) (OriginPolicy, error) {
	return NewOriginPolicy(trusted, true, true)
}

// Check returns nil if r may proceed, or a failure.ErrCSRFRejected whose
// detail is the reason. Safe methods always proceed.
func (p OriginPolicy) Check(r *http.Request) error {
	if reason := p.Reason(r); reason != "" {
		return failure.New(failure.ErrCSRFRejected, reason)
	}
	return nil
}

// CheckEndpoint is Check for a session endpoint (see EndpointPolicy):
// action ("login", "logout") says what was refused in the detail. Login
// and logout call this one function, so both refuse exactly the same
// requests.
func (p OriginPolicy) CheckEndpoint(r *http.Request, action string) error {
	if reason := p.Reason(r); reason != "" {
		return failure.New(failure.ErrCSRFRejected, action+" from another site refused: "+reason)
	}
	return nil
}

// Reason returns "" if r may proceed, or the reason it is rejected as a
// cross-site request. Safe methods always proceed.
func (p OriginPolicy) Reason(r *http.Request) string {
	if SafeMethod(r.Method) {
		return ""
	}
	from := r.Header.Get("Origin")
	switch sfs := r.Header.Get("Sec-Fetch-Site"); sfs {
	case "same-origin", "none":
		return ""
	case "":
	case "same-site":
		if p.AllowSameSite || (from != "" && p.trusted(from)) {
			return ""
		}
		return "cross-origin request refused (Sec-Fetch-Site: same-site)"
	default:
		if from != "" && p.trusted(from) {
			return ""
		}
		return "cross-site request refused (Sec-Fetch-Site: " + sanitizeToken(sfs) + ")"
	}
	what := "Origin"
	if from == "" {
		from, what = r.Header.Get("Referer"), "Referer"
		if from == "" {
			if p.AllowMissing {
				return ""
			}
			return "unsafe request without Origin, Referer or Sec-Fetch-Site header"
		}
	}
	o, ok := origin.FromHeader(from)
	if !ok {
		return what + " header is not a valid origin"
	}
	if o == origin.OfRequest(r) || p.trusted(o) {
		return ""
	}
	return "cross-origin request refused (" + what + " does not match the site or a trusted origin)"
}

func (p OriginPolicy) trusted(from string) bool {
	if len(p.Trusted) == 0 {
		return false
	}
	o, err := origin.Parse(from)
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

// CheckCSRFToken is the double-submit check of an unsafe request: sent is
// the value of the request header called header, expected the session's
// CSRFToken ("" when there is no session), cookie the name of the cookie
// pages read the token from. It returns nil or a failure.ErrCSRFRejected.
func CheckCSRFToken(header, cookie, sent, expected string) error {
	if sent == "" {
		return failure.New(failure.ErrCSRFRejected, "unsafe request without the "+header+" header: send the value of the "+cookie+" cookie in it")
	}
	if expected == "" || !CSRFTokenMatches(sent, expected) {
		return failure.New(failure.ErrCSRFRejected, "the "+header+" header does not match the session's CSRF token")
	}
	return nil
}
