package validation

import (
	"bytes"
	"net/netip"
	"strconv"
	"strings"
)

// validEmail is the "email" format check of jsonschema/v6 (format.go,
// validateEmail) over bytes, so the one-pass check needs no string per
// value. A hostname equal to *known (if known is not nil) was found
// valid before and is not checked again; a valid one is kept there: the
// addresses of one body often share their domain.
func validEmail(s []byte, known *[]byte) bool {
	if len(s) > 254 {
		return false
	}
	var at int
	if len(s) > 0 && s[0] != '"' {
		// An unquoted local part (the library's LastIndexByte split, in
		// one forward pass): allowed bytes, no '.' first, last or twice
		// in a row, up to the '@'. That '@' is the last one: no '@' may
		// follow in a hostname or an address literal.
		if at = dotAtomEnd(s); at < 0 || at == len(s) || s[at] != '@' {
			return false
		}
	} else {
		// A quoted local part, or none.
		if at = bytes.LastIndexByte(s, '@'); at < 2 || s[at-1] != '"' {
			return false
		}
		if q := s[1 : at-1]; bytes.IndexByte(q, '\\') != -1 || bytes.IndexByte(q, '"') != -1 {
			return false
		}
	}
	if at > 64 {
		return false
	}
	domain := s[at+1:]
	if len(domain) >= 2 && domain[0] == '[' && domain[len(domain)-1] == ']' {
		ip := string(domain[1 : len(domain)-1])
		if rem, ok := strings.CutPrefix(ip, "IPv6:"); ok {
			return validIPv6(rem)
		}
		return validIPv4(ip)
	}
	if known != nil && len(*known) > 0 && bytes.Equal(domain, *known) {
		return true
	}
	if !validHostname(domain) {
		return false
	}
	if known != nil {
		*known = append((*known)[:0], domain...)
	}
	return true
}

// dotAtomEnd returns the end of the runs of atom bytes joined by single
// dots at the start of s, or -1 if a run is empty (a '.' first, last or
// twice in a row). An empty local part is allowed, as the library does.
func dotAtomEnd(s []byte) int {
	if s[0] == '@' {
		return 0
	}
	for i := 0; ; i++ {
		j := i
		for j < len(s) && emailAtom[s[j]] {
			j++
		}
		if j == i {
			return -1
		}
		if j == len(s) || s[j] != '.' {
			return j
		}
		i = j
	}
}

// emailAtom and hostnameChar are the bytes allowed in an unquoted local
// part besides '.' and in a hostname label.
var emailAtom, hostnameChar = func() (l, h [256]bool) {
	for c := range 256 {
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		l[c] = alnum || strings.IndexByte("!#$%&'*+-/=?^_`{|}~", byte(c)) >= 0
		h[c] = alnum || c == '-'
	}
	return
}()

// validHostname is jsonschema/v6's "hostname" format check over bytes:
// at most 253 bytes (without a final '.'), labels of 1-63 letters,
// digits and '-', not starting or ending with '-'.
func validHostname(s []byte) bool {
	if n := len(s); n > 0 && s[n-1] == '.' {
		s = s[:n-1]
	}
	if len(s) > 253 {
		return false
	}
	for start := 0; ; {
		i := start
		for i < len(s) && hostnameChar[s[i]] {
			i++
		}
		if l := i - start; l < 1 || l > 63 || s[start] == '-' || s[i-1] == '-' {
			return false
		}
		if i == len(s) {
			return true
		}
		if s[i] != '.' {
			return false
		}
		start = i + 1
	}
}

// validIPv4 is jsonschema/v6's "ipv4" format check.
func validIPv4(s string) bool {
	groups := strings.Split(s, ".")
	if len(groups) != 4 {
		return false
	}
	for _, g := range groups {
		if len(g) > 1 && g[0] == '0' {
			return false
		}
		n, err := strconv.Atoi(g)
		if err != nil || n < 0 || n > 255 {
			return false
		}
	}
	return true
}

// validIPv6 is jsonschema/v6's "ipv6" format check.
func validIPv6(s string) bool {
	if !strings.Contains(s, ":") {
		return false
	}
	addr, err := netip.ParseAddr(s)
	return err == nil && addr.Zone() == ""
}
