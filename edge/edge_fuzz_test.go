package edge

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// FuzzCheckTarget: an accepted target never holds, after up to three
// decodings, a dot segment, control character, backslash, ';' or
// encoded slash, and it decodes.
func FuzzCheckTarget(f *testing.F) {
	for _, s := range []string{
		"/", "/open/x", "/open/..;/key/x", "/jwt/admin%00", "/open/..%5ckey/x", "/open/%252e%252e/key",
		"/open/.%2e/key", "/a%2fb", "/caf%C3%A9", "/%c0%ae%c0%ae/", "*", "http://h/x", "/x?y=%00", "/a//b",
		"/jwt/admin.", "/jwt/admin%20", "/jwt/%2561dmin",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		if CheckTarget("GET", target, Options{}) != nil {
			return
		}
		p, _, _ := strings.Cut(target, "?")
		for round := 0; round <= maxDecodings; round++ {
			for _, seg := range strings.Split(p, "/") {
				if seg == "." || seg == ".." {
					t.Fatalf("accepted %q: dot segment after %d decodings", target, round)
				}
				if strings.HasSuffix(seg, ".") || strings.HasSuffix(seg, " ") {
					t.Fatalf("accepted %q: segment %q ends in '.' or a space after %d decodings", target, seg, round)
				}
			}
			if round == 1 && strings.Contains(p, "%") {
				t.Fatalf("accepted %q: still percent-encoded after one decoding (%q)", target, p)
			}
			if strings.ContainsAny(p, "\\;\x00\r\n\x7f?#") || (round == 0 && strings.Contains(p, " ")) {
				t.Fatalf("accepted %q: %q after %d decodings", target, p, round)
			}
			d, err := url.PathUnescape(p)
			if err != nil {
				if round == 0 {
					t.Fatalf("accepted %q: not decodable: %v", target, err)
				}
				return
			}
			if strings.Count(d, "/") != strings.Count(p, "/") {
				t.Fatalf("accepted %q: encoded slash after %d decodings", target, round)
			}
			p = d
		}
	})
}

// FuzzCheckMethod: an accepted method is a non-empty upper-case token
// that is neither TRACE nor CONNECT.
func FuzzCheckMethod(f *testing.F) {
	for _, s := range []string{"GET", "post", "Post", "TRACE", "CONNECT", "M-SEARCH", "G ET", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, m string) {
		if CheckMethod(m, Options{}) != nil {
			return
		}
		if m == "" || m == "TRACE" || m == "CONNECT" || strings.ToUpper(m) != m || strings.ContainsAny(m, " \t\r\n\x00()<>@,;:\\\"/[]?={}") {
			t.Fatalf("accepted method %q", m)
		}
		for _, c := range []byte(m) {
			if c < 0x21 || c > 0x7e {
				t.Fatalf("accepted method %q", m)
			}
		}
	})
}

// FuzzClean: after Clean (and DropClientAddr for an untrusted peer) no
// client identity (the gateway's X-Auth-* or another auth proxy's), routing, override, client-address, Upgrade or
// Trailer header is left, whatever the spelling, and no Connection
// header names anything but close/keep-alive.
func FuzzClean(f *testing.F) {
	f.Add("X-Auth-User", "admin", "X-Auth-User, close")
	f.Add("x-original-url", "/key", "keep-alive")
	f.Add("Upgrade", "h2c", "Upgrade, HTTP2-Settings")
	f.Add("Trailer", "X-Auth-User", "")
	f.Add("remote-user", "admin", "")
	f.Add("X-Forwarded-Email", "a@x", "X-Forwarded-User")
	f.Add("x-amzn-oidc-data", "jwt", "close")
	f.Add("Cf-Access-Jwt-Assertion", "jwt", "")
	f.Add("X-FORWARDED-BY", "1", "X-Jwt-Payload")
	f.Add("forwarded-for", "1", "")
	f.Add("x-forwarded", "for=1", "")
	f.Fuzz(func(t *testing.T, name, value, conn string) {
		h := http.Header{name: {value}, "Connection": {conn}}
		if Clean(h, Options{}).ClientAddr {
			DropClientAddr(h)
		}
		for k := range h {
			if k == "Connection" {
				for _, tok := range strings.Split(h[k][0], ",") {
					tok = strings.ToLower(strings.TrimSpace(tok))
					if tok != "" && tok != "close" && tok != "keep-alive" {
						t.Fatalf("Connection %q left", h[k][0])
					}
				}
				continue
			}
			if k != "X-Request-Id" && !strings.EqualFold(k, "x-forwarded-for") && IsGatewayOwned(k) {
				t.Fatalf("%q left (%v)", k, h)
			}
			if l := strings.ToLower(k); l == "x-forwarded" || strings.HasPrefix(l, "x-forwarded-") && l != "x-forwarded-for" {
				t.Fatalf("%q left (%v)", k, h)
			}
		}
	})
}
