package sessions

import (
	"net/http"
	"strings"
)

// CookieValue returns the value of the first cookie called name in a
// Cookie request header value ("a=1; b=2"), without allocating. Values in
// double quotes are unquoted. ok is false if there is no such cookie.
func CookieValue(header, name string) (value string, ok bool) {
	v, _, ok := findCookie(header, name)
	return unquoteCookie(v), ok
}

// findCookie finds the first cookie called name in a Cookie header value:
// its value (white space trimmed, quotes kept) and the header after it.
func findCookie(header, name string) (value, rest string, ok bool) {
	for header != "" {
		var part string
		part, header = cutCookie(header)
		if eq := strings.IndexByte(part, '='); eq >= 0 && trimOWS(part[:eq]) == name {
			return trimOWS(part[eq+1:]), header, true
		}
	}
	return "", "", false
}

// cutCookie cuts the next ";"-separated pair off a Cookie header value:
// the pair without surrounding white space, and the rest.
func cutCookie(header string) (part, rest string) {
	if i := strings.IndexByte(header, ';'); i >= 0 {
		return trimOWS(header[:i]), header[i+1:]
	}
	return trimOWS(header), ""
}

func unquoteCookie(v string) string {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		return v[1 : len(v)-1]
	}
	return v
}

// CookieValues calls fn with the value of every cookie called name in the
// request's Cookie headers, in order, until fn returns false (a request
// may carry several, e.g. one planted by a sibling domain with another
// path).
func CookieValues(h http.Header, name string, fn func(value string) bool) {
	for _, line := range h["Cookie"] {
		for line != "" {
			v, rest, ok := findCookie(line, name)
			if !ok {
				break
			}
			if !fn(unquoteCookie(v)) {
				return
			}
			line = rest
		}
	}
}

// RequestCookie returns the first value of cookie name in r's Cookie
// headers without allocating.
func RequestCookie(r *http.Request, name string) (string, bool) {
	for _, line := range r.Header["Cookie"] {
		if v, ok := CookieValue(line, name); ok {
			return v, true
		}
	}
	return "", false
}

// RemoveCookie returns header (a Cookie header value) without any cookie
// called name, keeping the others in order; header is returned as is when
// it holds no such cookie.
func RemoveCookie(header, name string) string {
	if _, ok := CookieValue(header, name); !ok {
		return header
	}
	// the cookies kept: none or one (the session cookie alone, or next to
	// one other) is returned without building a string
	kept, first := 0, ""
	for rest := header; rest != ""; {
		var part string
		if part, rest = cutCookie(rest); keepCookie(part, name) {
			if kept++; kept == 1 {
				first = part
			}
		}
	}
	if kept <= 1 {
		return first
	}
	var b strings.Builder
	b.Grow(len(header))
	for rest := header; rest != ""; {
		var part string
		if part, rest = cutCookie(rest); !keepCookie(part, name) {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		b.WriteString(part)
	}
	return b.String()
}

// keepCookie reports whether RemoveCookie keeps the pair part: not
// empty, and not a cookie called name.
func keepCookie(part, name string) bool {
	if part == "" {
		return false
	}
	eq := strings.IndexByte(part, '=')
	return eq < 0 || trimOWS(part[:eq]) != name
}

// StripRequestCookie removes cookie name from r's Cookie headers, dropping
// headers left empty, so the upstream never sees it.
func StripRequestCookie(r *http.Request, name string) {
	lines := r.Header["Cookie"]
	if len(lines) == 0 {
		return
	}
	out := lines[:0]
	for _, line := range lines {
		if line = RemoveCookie(line, name); line != "" {
			out = append(out, line)
		}
	}
	if len(out) == 0 {
		delete(r.Header, "Cookie")
		return
	}
	r.Header["Cookie"] = out
}

func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// CookieName returns the name of the session cookie as sent, including
// the __Host- prefix when configured.
func (m *Manager) CookieName() string {
	if m.cfg.HostPrefix {
		return HostPrefix + m.cfg.CookieName
	}
	return m.cfg.CookieName
}

// Cookie returns the session cookie carrying token: HttpOnly, Path=/,
// SameSite as configured, Secure when the request came over HTTPS (always
// with the __Host- prefix). It has no Max-Age: a session cookie the
// browser drops when it closes; the server enforces the lifetime.
func (m *Manager) Cookie(token string, secure bool) *http.Cookie {
	c := &http.Cookie{
		Name:     m.CookieName(),
		Value:    token,
		Path:     "/",
		HttpOnly: true,
		Secure:   secure || m.cfg.HostPrefix,
		SameSite: http.SameSiteLaxMode,
	}
	if m.cfg.SameSite == "strict" {
		c.SameSite = http.SameSiteStrictMode
	}
	return c
}

// ClearCookie returns a cookie that makes the browser delete the session
// cookie (Max-Age=0).
func (m *Manager) ClearCookie(secure bool) *http.Cookie {
	c := m.Cookie("", secure)
	c.MaxAge = -1 // net/http writes Max-Age=0
	return c
}
