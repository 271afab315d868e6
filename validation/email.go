package validation

import (
	"bytes"
	"net/netip"
	"strconv"
	"strings"
)

// validEmail is the "email" format check of jsonschema/v6 (format.go,
// validateEmail) over bytes, so the one-pass check needs no string per
// value.
func validEmail(s []byte) bool {
	if len(s) > 254 {
		return false
	}
	at := bytes.LastIndexByte(s, '@')
	if at == -1 {
		return false
	}
	local, domain := s[:at], s[at+1:]
	if len(local) > 64 {
		return false
	}
	if len(local) > 1 && local[0] == '"' && local[len(local)-1] == '"' {
		q := local[1 : len(local)-1]
		if bytes.IndexByte(q, '\\') != -1 || bytes.IndexByte(q, '"') != -1 {
			return false
		}
	} else if len(local) > 0 {
		// allowed bytes, and no '.' first, last or twice in a row: runs
		// of atom bytes, none empty, joined by single dots
		for i := 0; ; i++ {
			j := i
			for j < len(local) && emailAtom[local[j]] {
				j++
			}
			if j == i {
				return false
			}
			if j == len(local) {
				break
			}
			if local[j] != '.' {
				return false
			}
			i = j
		}
	}
	if len(domain) >= 2 && domain[0] == '[' && domain[len(domain)-1] == ']' {
		ip := string(domain[1 : len(domain)-1])
		if rem, ok := strings.CutPrefix(ip, "IPv6:"); ok {
			return validIPv6(rem)
		}
		return validIPv4(ip)
	}
	return validHostname(domain)
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
