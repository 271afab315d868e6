package origin

import "testing"

func TestParse(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://App.Example.com", "https://app.example.com"},
		{"https://a.test:443/", "https://a.test"},
		{"http://a.test:8080", "http://a.test:8080"},
		{"ftp://a.test", ""},
		{"https://a.test/path", ""},
		{"a.test", ""},
		{"http://a.test:8080:80", ""},
		{"http://a.test:", ""},
		{"http://a%20b.test", ""},
	} {
		got, err := Parse(tc.in)
		if got != tc.want || (err == nil) != (tc.want != "") {
			t.Errorf("Parse(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestCanonical(t *testing.T) {
	for _, tc := range []struct{ scheme, host, want string }{
		{"https", "App.Example.com:443", "https://app.example.com"},
		{"http", "a.test:80", "http://a.test"},
		{"https", "a.test:80", "https://a.test:80"},
		{"HTTP", "a.test:80", "http://a.test"},
		{"http", "[::1]:80", "http://[::1]"},
		{"http", "[::1]", "http://[::1]"},
		{"https", "[::1]:8443", "https://[::1]:8443"},
	} {
		if got := Canonical(tc.scheme, tc.host); got != tc.want {
			t.Errorf("Canonical(%q, %q) = %q, want %q", tc.scheme, tc.host, got, tc.want)
		}
	}
}

func TestFromHeader(t *testing.T) {
	for in, want := range map[string]string{
		"https://Site.test:443":      "https://site.test",
		"http://site.test/page?x=1":  "http://site.test",
		"null":                       "",
		"":                           "",
		"site.test":                  "",
		"https://site.test:8443/a/b": "https://site.test:8443",
		"http://localhost:3000:80":   "",
		"http://localhost:3000:":     "",
		"http://[::1]:8080":          "http://[::1]:8080",
		"http://[::1]":               "http://[::1]",
		"http://exa mple.test":       "",
		"http://:80":                 "",
	} {
		got, ok := FromHeader(in)
		if got != want || ok != (want != "") {
			t.Errorf("FromHeader(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}
