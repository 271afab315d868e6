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
