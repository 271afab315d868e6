package origin

import (
	"strings"
	"testing"
)

func TestOriginMatcher(t *testing.T) {
	m, err := NewMatcher([]string{"http://localhost:3000", "https://*.example.com", "https://app.test:443", "http://*.dev.test:8080"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		origin string
		want   bool
	}{
		{"http://localhost:3000", true},
		{"http://LOCALHOST:3000", true},
		{"http://localhost:3001", false},
		{"https://localhost:3000", false},
		{"http://localhost", false},
		{"https://a.example.com", true},
		{"https://a.b.example.com", true},
		{"https://A.Example.COM", true},
		{"https://example.com", false},
		{"https://evil-example.com", false},
		{"https://a.evil-example.com", false},
		{"https://example.com.evil.test", false},
		{"http://a.example.com", false},
		{"https://a.example.com:8443", false},
		{"https://.example.com", false},
		{"https://a..example.com", false},
		{"https://a_b.example.com", false},
		{"https://app.test", true},
		{"https://app.test:443", true},
		{"http://x.dev.test:8080", true},
		{"http://x.dev.test", false},
		{"null", false},
		{"", false},
		{"localhost:3000", false},
		{"http://localhost:3000:80", false},
		{"http://localhost:3000:", false},
		{"http://local host:3000", false},
		{"https://a.example.com:443:8443", false},
	} {
		t.Run(tc.origin, func(t *testing.T) {
			if got := m.Match(tc.origin); got != tc.want {
				t.Fatalf("Match(%q) = %v, want %v", tc.origin, got, tc.want)
			}
		})
	}
}

func TestOriginMatcherConfigErrors(t *testing.T) {
	for _, tc := range []struct{ origin, want string }{
		{"null", "null"},
		{"localhost:3000", "must look like"},
		{"ftp://x.test", "must look like"},
		{"https://x.test/path", "without path"},
		{"https://*.com", "at least two labels"},
		{"https://a.*.example.com", "without path, or a pattern"},
		{"https://*example.com", "without path, or a pattern"},
	} {
		t.Run(tc.origin, func(t *testing.T) {
			_, err := NewMatcher([]string{tc.origin})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func FuzzOriginMatcher(f *testing.F) {
	m, err := NewMatcher([]string{"http://localhost:3000", "https://*.example.com"})
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"http://localhost:3000", "https://a.example.com", "https://evil-example.com", "https://example.com", "null", "https://a.example.com:443", "https://a.example.com."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, origin string) {
		if !m.Match(origin) {
			return
		}
		// Anything accepted must be the exact origin or a real subdomain
		// of example.com over https on the default port.
		lower := strings.ToLower(origin)
		if lower == "http://localhost:3000" {
			return
		}
		host, ok := strings.CutPrefix(lower, "https://")
		host = strings.TrimSuffix(host, ":443")
		if !ok || !strings.HasSuffix(host, ".example.com") || !validDNSName(strings.TrimSuffix(host, ".example.com")) {
			t.Fatalf("accepted %q", origin)
		}
	})
}
