package caddymodule_test

import (
	"testing"
)

// TestDemoUpstreamNeverSeesGatewayCookies: whatever the route, the demo
// upstream gets neither the session cookie nor the OIDC login-state
// cookie (a client may send the latter anywhere, not only to
// /auth/callback); other cookies pass.
func TestDemoUpstreamNeverSeesGatewayCookies(t *testing.T) {
	c := sxStartDemo(t)
	for _, tc := range []struct{ sent, want string }{
		{"a=1; apigw_oidc_login=state-cookie-value; apigw_session=session-value; b=2", "a=1; b=2"},
		{"apigw_oidc_login=state-cookie-value", ""},
		{"apigw_oidc_login=x; a=1", "a=1"},
		{"a=1; apigw_oidc_login=x", "a=1"},
	} {
		r := sxDo(t, "GET", c.URL("/open/x"), "", "Cookie", tc.sent)
		h, _ := r.json["headers"].(map[string]any)
		if r.status != 200 || h["cookie"] != tc.want {
			t.Fatalf("Cookie %q: upstream got %v (status %d), want %q", tc.sent, h["cookie"], r.status, tc.want)
		}
	}
}
