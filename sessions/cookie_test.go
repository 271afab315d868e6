package sessions

import (
	"net/http"
	"strings"
	"testing"
)

func TestCookieValue(t *testing.T) {
	for _, tc := range []struct {
		name, header, cookie, want string
		ok                         bool
	}{
		{"single", "apigw_session=abc", "apigw_session", "abc", true},
		{"among others", "a=1; apigw_session=abc; b=2", "apigw_session", "abc", true},
		{"first wins", "apigw_session=one; apigw_session=two", "apigw_session", "one", true},
		{"quoted", `apigw_session="abc"`, "apigw_session", "abc", true},
		{"spaces", "  a=1 ;  apigw_session = abc ", "apigw_session", "abc", true},
		{"prefix name is not it", "xapigw_session=abc; apigw_sessionx=d", "apigw_session", "", false},
		{"empty value", "apigw_session=", "apigw_session", "", true},
		{"no equals", "apigw_session", "apigw_session", "", false},
		{"empty header", "", "apigw_session", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := CookieValue(tc.header, tc.cookie)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("CookieValue = %q, %v; want %q, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestRemoveCookie(t *testing.T) {
	for _, tc := range []struct{ name, header, want string }{
		{"only", "s=1", ""},
		{"middle", "a=1; s=2; b=3", "a=1; b=3"},
		{"every copy", "s=1; a=2; s=3", "a=2"},
		{"absent untouched", "a=1;b=2", "a=1;b=2"},
		{"similar names kept", "ss=1; s=2; s_x=3", "ss=1; s_x=3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := RemoveCookie(tc.header, "s"); got != tc.want {
				t.Fatalf("RemoveCookie = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestStripRequestCookieAndValues(t *testing.T) {
	r, _ := http.NewRequest("GET", "/", nil)
	r.Header.Add("Cookie", "s=1; a=2")
	r.Header.Add("Cookie", "s=3")
	var seen []string
	CookieValues(r.Header, "s", func(v string) bool { seen = append(seen, v); return true })
	if strings.Join(seen, ",") != "1,3" {
		t.Fatalf("CookieValues = %v", seen)
	}
	StripRequestCookie(r, "s")
	if got := r.Header.Values("Cookie"); len(got) != 1 || got[0] != "a=2" {
		t.Fatalf("after strip Cookie = %q", got)
	}
	StripRequestCookie(r, "a")
	if _, ok := r.Header["Cookie"]; ok {
		t.Fatal("empty Cookie header left behind")
	}
}

func FuzzCookieValue(f *testing.F) {
	for _, s := range []string{"a=1; apigw_session=abc", `apigw_session="x"`, ";;=;", "apigw_session", "apigw_session=a;apigw_session=b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		v, ok := CookieValue(header, "apigw_session")
		if ok && !strings.Contains(header, v) {
			t.Fatalf("value %q not from header %q", v, header)
		}
		rest := RemoveCookie(header, "apigw_session")
		if _, still := CookieValue(rest, "apigw_session"); still {
			t.Fatalf("RemoveCookie(%q) = %q still holds the cookie", header, rest)
		}
		if !ok && rest != header {
			t.Fatalf("RemoveCookie changed a header without the cookie: %q -> %q", header, rest)
		}
	})
}
