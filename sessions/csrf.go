package sessions

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"

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

// Defaults of the double-submit defence.
const (
	DefaultCSRFHeader = "X-CSRF-Token"
	DefaultCSRFCookie = "apigw_csrf"
)

// DoubleSubmit is the double-submit CSRF defence of a session: a cookie
// that pages' scripts can read (never HttpOnly) holds the session's
// CSRFToken, and unsafe requests echo it in a header. The token is bound
// to the session, so a cookie planted by another (sub)domain never
// matches.
type DoubleSubmit struct {
	// Header is the request header carrying the token.
	Header string
	// Cookie is the name of the token cookie.
	Cookie string

	sameSite http.SameSite
}

// DoubleSubmit returns the double-submit defence for the manager's
// sessions with header and cookie ("" for DefaultCSRFHeader and
// DefaultCSRFCookie, "__Host-" prefixed when the session cookie is).
func (m *Manager) DoubleSubmit(header, cookie string) DoubleSubmit {
	d := DoubleSubmit{Header: header, Cookie: cookie, sameSite: m.Cookie("", false).SameSite}
	if d.Header == "" {
		d.Header = DefaultCSRFHeader
	}
	if d.Cookie == "" {
		d.Cookie = DefaultCSRFCookie
		if m.cfg.HostPrefix {
			d.Cookie = HostPrefix + DefaultCSRFCookie
		}
	}
	return d
}

// SetCookie returns the token cookie to set on the response to r, whose
// session's token is expected (see CSRFToken), or nil when r already
// holds it or has no session.
func (d DoubleSubmit) SetCookie(r *http.Request, expected string) *http.Cookie {
	if sent, _ := RequestCookie(r, d.Cookie); sent == expected || expected == "" {
		return nil
	}
	return &http.Cookie{
		Name: d.Cookie, Value: expected, Path: "/", SameSite: d.sameSite,
		Secure: r.TLS != nil || strings.HasPrefix(d.Cookie, HostPrefix),
	}
}

// Check returns nil when r may proceed: a safe method, or an unsafe one
// whose Header holds expected (the session's CSRFToken; "" without a
// session). Else it is a failure.ErrCSRFRejected.
func (d DoubleSubmit) Check(r *http.Request, expected string) error {
	if SafeMethod(r.Method) {
		return nil
	}
	sent := r.Header.Get(d.Header)
	if sent == "" {
		return failure.New(failure.ErrCSRFRejected, "unsafe request without the "+d.Header+" header: send the value of the "+d.Cookie+" cookie in it")
	}
	if expected == "" || !CSRFTokenMatches(sent, expected) {
		return failure.New(failure.ErrCSRFRejected, "the "+d.Header+" header does not match the session's CSRF token")
	}
	return nil
}
