package origin

import (
	"fmt"
	"strconv"
	"strings"
)

// Matcher decides whether an Origin header value is allowed.
type Matcher struct {
	exact    map[string][]string // normalized origin -> header value
	patterns []pattern
	any      bool
}

type pattern struct {
	scheme string // "https"
	suffix string // ".example.com" (the dot is required)
	port   string // "" or ":8443"
}

// NewMatcher compiles origins (apigw_cors's allow-list): exact origins,
// "https://*.example.com" patterns or "*". Origins are
// scheme://host[:port] with no path; default ports are dropped, as
// browsers do; "null" is refused (sandboxed documents and file: pages
// send it, so allowing it allows everyone).
func NewMatcher(origins []string) (Matcher, error) {
	m := Matcher{exact: make(map[string][]string, len(origins))}
	for _, o := range origins {
		if o == "*" {
			m.any = true
			continue
		}
		if strings.EqualFold(o, "null") {
			return m, fmt.Errorf("origin \"null\" cannot be allowed safely (any sandboxed page sends it): list real origins")
		}
		scheme, rest, ok := strings.Cut(o, "://")
		if !ok || (scheme != "http" && scheme != "https") {
			return m, fmt.Errorf("origin %q must look like https://host[:port]", o)
		}
		if strings.HasPrefix(rest, "*.") {
			host, port := rest[1:], ""
			if i := strings.LastIndexByte(host, ':'); i >= 0 {
				host, port = host[:i], host[i:]
			}
			if strings.ContainsAny(host, "*/?#@") || strings.Count(host, ".") < 2 {
				return m, fmt.Errorf("origin pattern %q: only the leftmost labels may be a wildcard and at least two labels must follow (https://*.example.com)", o)
			}
			if port != "" {
				if _, err := strconv.Atoi(port[1:]); err != nil {
					return m, fmt.Errorf("origin pattern %q has a bad port", o)
				}
				port = trimDefaultPort(scheme, port)
			}
			m.patterns = append(m.patterns, pattern{scheme: scheme, suffix: strings.ToLower(host), port: port})
			continue
		}
		n, err := Parse(o)
		if err != nil || strings.Contains(n, "*") {
			return m, fmt.Errorf("origin %q must be scheme://host[:port] without path, or a pattern like https://*.example.com", o)
		}
		m.exact[n] = []string{n}
	}
	return m, nil
}

// Any reports whether the list holds "*" (any origin but "null").
func (m *Matcher) Any() bool { return m.any }

// Match reports whether origin (an Origin request header) is allowed.
func (m *Matcher) Match(origin string) bool {
	if m.any {
		return origin != "" && origin != "null"
	}
	if _, ok := m.exact[origin]; ok {
		return true
	}
	scheme, host, ok := strings.Cut(origin, "://")
	if !ok || !validAuthority(host) {
		return false
	}
	if len(m.exact) > 0 {
		if _, ok := m.exact[Canonical(scheme, host)]; ok {
			return true
		}
	}
	if len(m.patterns) == 0 {
		return false
	}
	port := ""
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		host, port = host[:i], trimDefaultPort(scheme, host[i:])
	}
	host = strings.ToLower(host)
	for _, p := range m.patterns {
		if p.scheme != scheme || p.port != port || len(host) <= len(p.suffix) || !strings.HasSuffix(host, p.suffix) {
			continue
		}
		if validDNSName(host[:len(host)-len(p.suffix)]) {
			return true
		}
	}
	return false
}

// validDNSName reports whether s is one or more DNS labels (letters,
// digits, hyphens; no empty label).
func validDNSName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	label := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if label == 0 {
				return false
			}
			label = 0
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-':
			label++
			if label > 63 {
				return false
			}
		default:
			return false
		}
	}
	return label > 0
}
