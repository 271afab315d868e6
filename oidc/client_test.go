package oidc

import (
	"strings"
	"testing"
)

func TestCheckClient(t *testing.T) {
	secret := strings.Repeat("s", MinClientSecret)
	for _, tc := range []struct {
		issuer, id, secret string
		expanded           bool
		want               string // "" = accepted
	}{
		{"https://id.example.com", "gw", secret, true, ""},
		{"", "", secret, true, "missing [issuer client_id]"},
		{"http://id.example.com", "gw", secret, true, "uses plain http"},
		{"https://id.example.com", "gw", "short", true, "shorter than 32 bytes"},
		// the Caddyfile leaves placeholders to provision; provision does not
		{"{env.ISSUER}", "gw", "{env.SECRET}", false, ""},
		{"http://id.example.com/{x}", "gw", secret, true, "uses plain http"},
		{"https://id.example.com", "gw", "{x}", true, "shorter than 32 bytes"},
	} {
		err := CheckClient(tc.issuer, tc.id, tc.secret, false, tc.expanded)
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: %v, want %q", tc, err, tc.want)
		}
	}
}

func TestLoginSettingsCheck(t *testing.T) {
	ok := LoginSettings{RedirectURI: "https://gw.example.com/auth/callback", LoginPath: "/auth/login", DefaultReturnTo: "/app/"}
	if err := ok.Check(true); err != nil {
		t.Fatal(err)
	}
	if p, _ := ok.CallbackPath(); p != "/auth/callback" {
		t.Fatalf("callback path %q", p)
	}
	for want, mutate := range map[string]func(*LoginSettings){
		"missing redirect_uri":           func(s *LoginSettings) { s.RedirectURI = "" },
		"absolute callback URL":          func(s *LoginSettings) { s.RedirectURI = "/auth/callback" },
		"post_logout_redirect_uri":       func(s *LoginSettings) { s.PostLogoutRedirectURI = "/bye" },
		`unknown algorithm "HS256"`:      func(s *LoginSettings) { s.Algorithms = []string{"HS256"} },
		`login_path "//evil"`:            func(s *LoginSettings) { s.LoginPath = "//evil" },
		`default_return_to "https://x/"`: func(s *LoginSettings) { s.DefaultReturnTo = "https://x/" },
		"max_pending_logins -1":          func(s *LoginSettings) { s.MaxPendingLogins = -1 },
		"claim_metadata needs a claim":   func(s *LoginSettings) { s.Mapping.Metadata = map[string]string{"": "x"} },
	} {
		s := ok
		mutate(&s)
		if err := s.Check(true); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", want, err)
		}
	}
	// the Caddyfile leaves a URL with a placeholder to provision
	if err := (&LoginSettings{RedirectURI: "{env.CALLBACK}"}).Check(false); err != nil {
		t.Fatal(err)
	}
}
