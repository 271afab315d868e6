package routecost

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/headers"
)

// demoHeaderUp is the header_up list of Caddyfile.example's (upstream)
// snippet as `caddy adapt` writes it: the gateway's credentials removed
// on every route, the session and login-state cookies cut out of Cookie.
const demoHeaderUp = `{
	"delete": ["X-Api-Key", "Authorization", "X-Signature", "Proxy-Authorization", "DPoP", "Signature", "Signature-Input"],
	"replace": {"Cookie": [
		{"search_regexp": "(?:^|;)\\s*apigw_session=[^;]*", "replace": ""},
		{"search_regexp": "(?:^|;)\\s*apigw_oidc_login=[^;]*", "replace": ""},
		{"search_regexp": "^\\s*;\\s*", "replace": ""}
	]}
}`

// BenchmarkDemoHeaderUp measures what the demo's strip of credentials
// costs reverse_proxy per request (issue 13 asked whether it duplicates
// our handlers: it is the only strip on routes without an auth
// directive, such as /open): a request without cookies, and one with
// the session cookie and another cookie.
func BenchmarkDemoHeaderUp(b *testing.B) {
	var ops headers.HeaderOps
	if err := json.Unmarshal([]byte(demoHeaderUp), &ops); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	b.Cleanup(cancel)
	if err := ops.Provision(ctx); err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct{ name, cookie string }{
		{"no cookie", ""},
		{"session cookie", "apigw_session=v1.abcdefghijklmnopqrstuvwxyz0123456789; theme=dark"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			r := httptest.NewRequest("GET", "/open/items", nil)
			r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
			accept := []string{"application/json"}
			b.ReportAllocs()
			for b.Loop() {
				r.Header["Accept"] = accept
				if tc.cookie != "" {
					r.Header["Cookie"] = []string{tc.cookie}
				}
				ops.ApplyToRequest(r)
			}
		})
	}
}
