package sessions

import (
	"net/http"
	"strings"
)

// CookieValue returns the value of the first cookie called name in a
// Cookie request header value ("a=1; b=2"), without allocating. Values in
// double quotes are unquoted. ok is false if there is no such cookie.
func CookieValue(header, name string) (value string, ok bool) {
	for header != "" {
		var part string
		if i := strings.IndexByte(header, ';'); i >= 0 {
			part, header = header[:i], header[i+1:]
		} else {
			part, header = header, ""
		}
		part = trimOWS(part)
		eq := strings.IndexByte(part, '=')
		if eq < 0 || trimOWS(part[:eq]) != name {
			continue
		}
		v := trimOWS(part[eq+1:])
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		return v, true
	}
	return "", false
}

// CookieValues calls fn with the value of every cookie called name in the
// request's Cookie headers, in order, until fn returns false (a request
// may carry several, e.g. one planted by a sibling domain with another
// path).
func CookieValues(h http.Header, name string, fn func(value string) bool) {
	for _, line := range h["Cookie"] {
		for line != "" {
			v, ok := CookieValue(line, name)
			if !ok {
				break
			}
			if !fn(v) {
				return
			}
			line = afterCookie(line, name)
		}
	}
}

// afterCookie returns the rest of header after the first cookie called name.
func afterCookie(header, name string) string {
	for header != "" {
		var part string
		if i := strings.IndexByte(header, ';'); i >= 0 {
			part, header = header[:i], header[i+1:]
		} else {
			part, header = header, ""
		}
		part = trimOWS(part)
		if eq := strings.IndexByte(part, '='); eq >= 0 && trimOWS(part[:eq]) == name {
			return header
		}
	}
	return ""
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
	var b strings.Builder
	b.Grow(len(header))
	rest := header
	for rest != "" {
		var part string
		if i := strings.IndexByte(rest, ';'); i >= 0 {
			part, rest = rest[:i], rest[i+1:]
		} else {
			part, rest = rest, ""
		}
		part = trimOWS(part)
		if part == "" {
			continue
		}
		if eq := strings.IndexByte(part, '='); eq >= 0 && trimOWS(part[:eq]) == name {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		b.WriteString(part)
	}
	return b.String()
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
