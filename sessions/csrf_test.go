package sessions

import (
	"crypto/tls"
	"net/http"
	"strings"
	"testing"
)

func TestOriginPolicy(t *testing.T) {
	p := OriginPolicy{Trusted: []string{"https://app.example.com"}}
	for _, tc := range []struct {
		name    string
		method  string
		tls     bool
		headers map[string]string
		reject  string // substring of the reason, "" = allowed
	}{
		{"safe method cross-site", "GET", false, map[string]string{"Sec-Fetch-Site": "cross-site"}, ""},
		{"sec-fetch same-origin", "POST", false, map[string]string{"Sec-Fetch-Site": "same-origin"}, ""},
		{"sec-fetch none", "POST", false, map[string]string{"Sec-Fetch-Site": "none"}, ""},
		{"sec-fetch cross-site", "POST", false, map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, "Sec-Fetch-Site: cross-site"},
		{"sec-fetch same-site untrusted", "DELETE", false, map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "http://other.site.test"}, "Sec-Fetch-Site: same-site"},
		{"sec-fetch same-site trusted", "DELETE", false, map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "https://app.example.com"}, ""},
		{"sec-fetch cross-site trusted", "POST", false, map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://APP.example.com:443"}, ""},
		{"origin same", "POST", false, map[string]string{"Origin": "http://site.test"}, ""},
		{"origin same default port", "PUT", false, map[string]string{"Origin": "http://site.test:80"}, ""},
		{"origin scheme differs", "POST", true, map[string]string{"Origin": "http://site.test"}, "Origin does not match"},
		{"origin https same", "POST", true, map[string]string{"Origin": "https://site.test"}, ""},
		{"origin foreign", "PATCH", false, map[string]string{"Origin": "http://evil.test"}, "Origin does not match"},
		{"origin null", "POST", false, map[string]string{"Origin": "null"}, "not a valid origin"},
		{"origin trusted", "POST", false, map[string]string{"Origin": "https://app.example.com"}, ""},
		{"referer same", "POST", false, map[string]string{"Referer": "http://site.test/page?x=1"}, ""},
		{"referer foreign", "POST", false, map[string]string{"Referer": "http://evil.test/site.test"}, "Referer does not match"},
		{"referer lookalike", "POST", false, map[string]string{"Referer": "http://site.test.evil.test/"}, "Referer does not match"},
		{"nothing", "POST", false, nil, "without Origin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := http.NewRequest(tc.method, "http://site.test/session/x", nil)
			if tc.tls {
				r.TLS = &tls.ConnectionState{}
			}
			for k, v := range tc.headers {
				r.Header.Set(k, v)
			}
			got := p.Reason(r)
			if (got == "") != (tc.reject == "") || !strings.Contains(got, tc.reject) {
				t.Fatalf("Check = %q, want reason containing %q", got, tc.reject)
			}
		})
	}
	r, _ := http.NewRequest("POST", "http://site.test/", nil)
	if got := (OriginPolicy{AllowMissing: true}).Reason(r); got != "" {
		t.Fatalf("AllowMissing rejected: %q", got)
	}
	r.Header.Set("Sec-Fetch-Site", "same-site")
	r.Header.Set("Origin", "http://other.site.test")
	if got := (OriginPolicy{AllowSameSite: true}).Reason(r); got != "" {
		t.Fatalf("AllowSameSite rejected: %q", got)
	}
	r.Header.Set("Sec-Fetch-Site", "cross-site")
	if got := (OriginPolicy{AllowSameSite: true}).Reason(r); got == "" {
		t.Fatal("AllowSameSite let a cross-site request through")
	}
}

func TestCSRFToken(t *testing.T) {
	a, b := CSRFToken("token-a"), CSRFToken("token-b")
	if a == b || a != CSRFToken("token-a") || strings.Contains(a, "token") {
		t.Fatalf("tokens %q %q", a, b)
	}
	if !CSRFTokenMatches(a, a) || CSRFTokenMatches(a, b) || CSRFTokenMatches("", a) {
		t.Fatal("CSRFTokenMatches wrong")
	}
}
