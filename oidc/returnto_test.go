package oidc

import (
	"net/url"
	"strings"
	"testing"
)

func TestSafeReturnTo(t *testing.T) {
	const def = "/app/"
	for _, tc := range []struct{ in, want string }{
		{"", def},
		{"/app/x", "/app/x"},
		{"/app/x?y=1&z=%20", "/app/x?y=1&z=%20"},
		{"/", "/"},
		{"/app/%E2%9C%93", "/app/%E2%9C%93"},
		{"//evil.example", def},
		{"//evil.example/app", def},
		{"/\\evil.example", def},
		{"\\\\evil.example", def},
		{"https://evil.example/", def},
		{"http:evil.example", def},
		{"javascript:alert(1)", def},
		{"app/x", def},
		{"/%2F%2Fevil.example", def},
		{"/%2f%2fevil.example", def},
		{"/%5Cevil.example", def},
		{"/%252F%252Fevil.example", def},
		{"/%5C%5Cevil.example", def},
		{"/app/\r\nSet-Cookie: x=1", def},
		{"/app/%0d%0aSet-Cookie:x=1", def},
		{"/app/\x00", def},
		{"/app/\t", def},
		{"/ /evil", def},
		{"/app/../admin", def},
		{"/app/%2e%2e/admin", def},
		{"/app/ü", def},
		{"/" + string(make([]byte, 3000)), def},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if got := SafeReturnTo(tc.in, def); got != tc.want {
				t.Fatalf("SafeReturnTo(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// FuzzSafeReturnTo: whatever the input, the answer is the default or a
// path that a browser resolves on this origin.
func FuzzSafeReturnTo(f *testing.F) {
	for _, s := range []string{"/app/x", "//evil", "/\\evil", "/%2F%2Fevil", "https://x", "/a?b=//c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got := SafeReturnTo(in, "/app/")
		if got == "/app/" {
			return
		}
		if got != in {
			t.Fatalf("SafeReturnTo(%q) = %q: neither the input nor the default", in, got)
		}
		u, err := url.Parse(got)
		if err != nil || u.Scheme != "" || u.Host != "" || !strings.HasPrefix(got, "/") {
			t.Fatalf("SafeReturnTo(%q) accepted a value with a scheme or host", in)
		}
		d := got
		for range 3 {
			if strings.HasPrefix(d, "//") || strings.HasPrefix(d, "/\\") || strings.ContainsAny(d, "\\\r\n\x00") {
				t.Fatalf("SafeReturnTo(%q) accepted %q, which decodes to %q", in, got, d)
			}
			if d, err = url.PathUnescape(d); err != nil {
				break
			}
		}
	})
}
