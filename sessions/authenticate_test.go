package sessions

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/apigw/caddy-apigw/failure"
)

func cookieHeader(values ...string) http.Header {
	h := http.Header{}
	for _, v := range values {
		h.Add("Cookie", DefaultCookieName+"="+v)
	}
	return h
}

func TestAuthenticate(t *testing.T) {
	ctx := context.Background()
	m, _, _ := testManager(t, Config{})
	token, info, err := m.Create(ctx, "alice", map[string]string{"scope": "read write", "roles": "admin", "team": "blue"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.Authenticate(ctx, http.Header{}); !errors.Is(err, failure.ErrMissingCredentials) {
		t.Fatalf("no cookie: %v", err)
	}
	if _, _, err := m.Authenticate(ctx, cookieHeader("garbage")); !errors.Is(err, failure.ErrInvalidSession) {
		t.Fatalf("garbage cookie: %v", err)
	}
	// a planted cookie before the real one: the first valid one wins
	sess, got, err := m.Authenticate(ctx, cookieHeader("x", token))
	if err != nil || got != token || sess.ID != info.ID {
		t.Fatalf("Authenticate = %v, %q, %v", sess.ID, got, err)
	}
	id := sess.Identity()
	if id.ID != "alice" || id.Method != "session" || len(id.Scopes) != 2 || len(id.Roles) != 1 || id.Claims["team"] != "blue" {
		t.Fatalf("identity %+v", id)
	}
	// only three cookies are tried
	if _, _, err := m.Authenticate(ctx, cookieHeader("a", "b", "c", token)); !errors.Is(err, failure.ErrInvalidSession) {
		t.Fatalf("fourth cookie used: %v", err)
	}
}

func TestLogout(t *testing.T) {
	ctx := context.Background()
	m, _, _ := testManager(t, Config{})
	token, _, err := m.Create(ctx, "alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Logout(ctx, http.Header{}); !errors.Is(err, failure.ErrMissingCredentials) {
		t.Fatalf("no cookie: %v", err)
	}
	if n, err := m.Logout(ctx, cookieHeader("x", token)); err != nil || n != 1 {
		t.Fatalf("Logout = %d, %v", n, err)
	}
	if _, err := m.Logout(ctx, cookieHeader(token)); !errors.Is(err, failure.ErrInvalidSession) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("second logout: %v", err)
	}
}

func TestLoadAccountsAndLogin(t *testing.T) {
	cmp := &countingComparer{}
	for _, tc := range []struct {
		name string
		list []Account
		want string
	}{
		{"empty user", []Account{{Hash: "H:x"}}, "account #1 has an empty"},
		{"twice", []Account{{User: "a", Hash: "H:x"}, {User: "a", Hash: "H:y"}}, `account "a" is listed twice`},
		{"not bcrypt", []Account{{User: "a", Hash: "H:x"}}, "not a bcrypt hash"},
	} {
		if _, err := LoadAccounts(tc.list, cmp, tc.name == "not bcrypt"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	a, err := LoadAccounts([]Account{{User: "demo", Hash: "H:pw", Scopes: []string{"read", "write"}, Roles: []string{"admin"}}, {User: "bare", Hash: "H:pw"}}, cmp, false)
	if err != nil {
		t.Fatal(err)
	}
	meta, err := a.Login("demo", "pw")
	if err != nil || meta["scope"] != "read write" || meta["roles"] != "admin" {
		t.Fatalf("Login = %v, %v", meta, err)
	}
	if meta, err := a.Login("bare", "pw"); err != nil || meta != nil {
		t.Fatalf("Login(bare) = %v, %v", meta, err)
	}
	for _, c := range [][2]string{{"demo", "nope"}, {"ghost", "pw"}} {
		if _, err := a.Login(c[0], c[1]); !errors.Is(err, failure.ErrInvalidCredentials) {
			t.Fatalf("Login(%s) = %v", c[0], err)
		}
	}
}

func TestDoubleSubmit(t *testing.T) {
	m, _, _ := testManager(t, Config{HostPrefix: true, SameSite: "strict"})
	d := m.DoubleSubmit("", "")
	if d.Header != DefaultCSRFHeader || d.Cookie != HostPrefix+DefaultCSRFCookie {
		t.Fatalf("defaults %+v", d)
	}
	want := CSRFToken("session-token")
	r, _ := http.NewRequest("POST", "http://site.test/x", nil)
	if ck := d.SetCookie(r, want); ck == nil || ck.Value != want || !ck.Secure || ck.SameSite != http.SameSiteStrictMode || ck.HttpOnly {
		t.Fatalf("SetCookie = %+v", ck)
	}
	if d.SetCookie(r, "") != nil {
		t.Fatal("cookie set without a session")
	}
	if err := d.Check(r, want); !errors.Is(err, failure.ErrCSRFRejected) || !strings.Contains(failure.Detail(err), "without the X-CSRF-Token header") {
		t.Fatalf("no header: %v", err)
	}
	r.Header.Set(DefaultCSRFHeader, CSRFToken("other"))
	if err := d.Check(r, want); !errors.Is(err, failure.ErrCSRFRejected) || !strings.Contains(failure.Detail(err), "does not match") {
		t.Fatalf("wrong token: %v", err)
	}
	r.Header.Set(DefaultCSRFHeader, want)
	if err := d.Check(r, want); err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Cookie", HostPrefix+DefaultCSRFCookie+"="+want)
	if d.SetCookie(r, want) != nil {
		t.Fatal("cookie set again")
	}
	get, _ := http.NewRequest("GET", "http://site.test/x", nil)
	if err := d.Check(get, want); err != nil {
		t.Fatalf("safe method: %v", err)
	}
}

func TestLoginRedirect(t *testing.T) {
	for p, ok := range map[string]bool{"/auth/login": true, "auth": false, "//evil.test": false, "/a?b": false, "/a b": false} {
		if err := CheckLoginRedirect(p); (err == nil) != ok {
			t.Errorf("CheckLoginRedirect(%q) = %v", p, err)
		}
	}
	r, _ := http.NewRequest("GET", "http://site.test/app/x%20y?q=1", nil)
	r.Header.Set("Accept", "text/html,*/*")
	if !IsNavigation(r) {
		t.Fatal("browser GET is not a navigation")
	}
	if got := LoginURL("/login", r); got != "/login?return_to=%2Fapp%2Fx%2520y%3Fq%3D1" {
		t.Fatalf("LoginURL = %q", got)
	}
	r.Method = "POST"
	if IsNavigation(r) {
		t.Fatal("POST is a navigation")
	}
}
