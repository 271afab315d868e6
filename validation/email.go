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
	} else {
		if bytes.HasPrefix(local, []byte(".")) || bytes.HasSuffix(local, []byte(".")) || bytes.Contains(local, []byte("..")) {
			return false
		}
		for _, ch := range local {
			if !emailLocal[ch] {
				return false
			}
		}
	}
	if bytes.HasPrefix(domain, []byte("[")) && bytes.HasSuffix(domain, []byte("]")) {
		ip := string(domain[1 : len(domain)-1])
		if rem, ok := strings.CutPrefix(ip, "IPv6:"); ok {
			return validIPv6(rem)
		}
		return validIPv4(ip)
	}
	return validHostname(domain)
}

// emailLocal and hostnameChar are the bytes allowed in an unquoted local
// part and in a hostname label.
var emailLocal, hostnameChar = func() (l, h [256]bool) {
	for c := range 256 {
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		l[c] = alnum || strings.IndexByte(".!#$%&'*+-/=?^_`{|}~", byte(c)) >= 0
		h[c] = alnum || c == '-'
	}
	return
}()

// validHostname is jsonschema/v6's "hostname" format check over bytes.
func validHostname(s []byte) bool {
	s = bytes.TrimSuffix(s, []byte("."))
	if len(s) > 253 {
		return false
	}
	for {
		label := s
		i := bytes.IndexByte(s, '.')
		if i >= 0 {
			label = s[:i]
		}
		if len(label) < 1 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, ch := range label {
			if !hostnameChar[ch] {
				return false
			}
		}
		if i < 0 {
			return true
		}
		s = s[i+1:]
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
