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
	} {
		got, err := Parse(tc.in)
		if got != tc.want || (err == nil) != (tc.want != "") {
			t.Errorf("Parse(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}
