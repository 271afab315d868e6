// Package redact holds what the gateway's logs never show: the request
// headers, cookies and query parameters that carry credentials, and the
// credential-looking values in a logged upstream body. It has no Caddy
// imports; caddymodule hooks it into Caddy's loggers (logredact.go).
package redact

import (
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// DefaultHeaders are the request headers that the access and error logs
// of every server using caddy-apigw's directives show as "REDACTED":
// credentials of every kind the gateway knows (Caddy itself redacts only
// Authorization, Proxy-Authorization, Cookie and Set-Cookie, and shows
// them all once log_credentials is on). Directives add the headers they
// are configured to read (an API key header other than X-API-Key, ...).
var DefaultHeaders = []string{
	"Authorization", "Proxy-Authorization", "X-Api-Key", "X-Signature",
	"Signature", "Signature-Input", "Dpop",
}

// Policy holds what a server's logs redact: header names and cookie
// names (safe for concurrent use).
type Policy struct {
	mu      sync.RWMutex
	headers map[string]bool // canonical names
	cookies map[string]bool
}

// NewPolicy returns a policy redacting DefaultHeaders.
func NewPolicy() *Policy {
	r := &Policy{headers: map[string]bool{}, cookies: map[string]bool{}}
	r.Add("", DefaultHeaders)
	return r
}

// Add redacts the named headers and, if not empty, the cookie.
func (r *Policy) Add(cookie string, headers []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, h := range headers {
		if h != "" {
			r.headers[http.CanonicalHeaderKey(h)] = true
		}
	}
	if cookie != "" {
		r.cookies[cookie] = true
	}
}

// Names returns the canonical names of the redacted headers and the
// redacted cookies, sorted (copies: the caller may keep them).
func (r *Policy) Names() (headers, cookies []string) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return slices.Sorted(maps.Keys(r.headers)), slices.Sorted(maps.Keys(r.cookies))
}

// Header returns a copy of h with the redacted headers (and, when Caddy
// would show cookies, the redacted cookies' values) replaced.
func (r *Policy) Header(h http.Header, showCredentials bool) http.Header {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make(http.Header, len(h))
	for k, v := range h {
		switch {
		case r.headers[http.CanonicalHeaderKey(k)]:
			out[k] = []string{"REDACTED"}
		case showCredentials && http.CanonicalHeaderKey(k) == "Cookie" && len(r.cookies) > 0:
			vals := make([]string, len(v))
			for i, line := range v {
				vals[i] = r.cookieLine(line)
			}
			out[k] = vals
		default:
			out[k] = v
		}
	}
	return out
}

// cookieLine redacts the values of the redacted cookies in one Cookie
// header line, keeping the others.
func (r *Policy) cookieLine(line string) string {
	parts := strings.Split(line, ";")
	for i, p := range parts {
		name, _, _ := strings.Cut(strings.TrimSpace(p), "=")
		if r.cookies[name] {
			parts[i] = " " + name + "=REDACTED"
			if i == 0 {
				parts[i] = parts[i][1:]
			}
		}
	}
	return strings.Join(parts, ";")
}

// ResponseHeader returns h with the redacted cookies' values in
// Set-Cookie replaced (Caddy shows Set-Cookie only with log_credentials).
func (r *Policy) ResponseHeader(h http.Header) http.Header {
	r.mu.RLock()
	defer r.mu.RUnlock()
	sc := h.Values("Set-Cookie")
	if len(sc) == 0 || len(r.cookies) == 0 {
		return h
	}
	out := h.Clone()
	vals := make([]string, len(sc))
	for i, line := range sc {
		name, rest, _ := strings.Cut(line, "=")
		if r.cookies[strings.TrimSpace(name)] {
			_, attrs, _ := strings.Cut(rest, ";")
			line = name + "=REDACTED"
			if attrs != "" {
				line += ";" + attrs
			}
		}
		vals[i] = line
	}
	out["Set-Cookie"] = vals
	return out
}

// redactedQueryParams are query parameters that carry credentials or
// one-time secrets: the OIDC callback's code and state, and tokens some
// clients put in URLs.
var redactedQueryParams = map[string]bool{
	"code": true, "state": true, "access_token": true, "id_token": true,
	"refresh_token": true, "token": true, "client_secret": true, "api_key": true,
}

// Query returns uri with the values of redactedQueryParams
// replaced by REDACTED (uri itself when it has none).
func Query(uri string) string {
	path, query, ok := strings.Cut(uri, "?")
	if !ok || query == "" {
		return uri
	}
	parts := strings.Split(query, "&")
	changed := false
	for i, p := range parts {
		name, _, _ := strings.Cut(p, "=")
		if un, err := url.QueryUnescape(name); err == nil {
			name = un
		}
		if redactedQueryParams[strings.ToLower(name)] {
			parts[i] = name + "=REDACTED"
			changed = true
		}
	}
	if !changed {
		return uri
	}
	return path + "?" + strings.Join(parts, "&")
}

// secretPatterns find credentials in logged upstream bodies.
var secretPatterns = []*regexp.Regexp{
	// Bearer / Basic credentials
	regexp.MustCompile(`(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}`),
	// key=value / key: value / "key":"value" for secret-looking keys
	regexp.MustCompile(`(?i)((?:password|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|client[_-]?secret|authorization|cookie|session(?:id)?|credentials?)["']?\s*(?:=|:)\s*)("[^"]*"|'[^']*'|[^\s,;&]+)`),
	// JWTs
	regexp.MustCompile(`eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*`),
	// provider-style keys: sk_live_..., pk_test_..., ghp_..., AKIA...
	regexp.MustCompile(`\b(?:[sprk]k_(?:live|test)_[A-Za-z0-9]{4,}|gh[pousr]_[A-Za-z0-9]{20,}|AKIA[0-9A-Z]{16}|xox[abpr]-[A-Za-z0-9-]{10,})`),
	// URLs with user:password@
	regexp.MustCompile(`(://[^/\s:@]+:)[^@\s/]+@`),
}

// Secrets returns body with credential-looking values replaced by
// [REDACTED], for logging an upstream error body.
func Secrets(body []byte) []byte {
	if len(body) == 0 {
		return body
	}
	out := body
	for i, re := range secretPatterns {
		switch i {
		case 0:
			out = re.ReplaceAll(out, []byte("${1} [REDACTED]"))
		case 1:
			out = re.ReplaceAll(out, []byte("${1}[REDACTED]"))
		case 4:
			out = re.ReplaceAll(out, []byte("${1}[REDACTED]@"))
		default:
			out = re.ReplaceAll(out, []byte("[REDACTED]"))
		}
	}
	return out
}
