// Package routecost measures what Caddy pays per request for a site's
// route structure, with no handler of ours: Caddy compiles a subroute's
// route list (a closure per route, a closure per handler of the matched
// route) on every request, and a Caddyfile site block and every `handle`
// block is a subroute.
//
//	go test ./bench/routecost -run '^$' -bench . -benchmem
package routecost

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// route is a Caddyfile `handle <path> { respond 200 }` block as adapted:
// a grouped route whose handler is a subroute.
func route(path string) map[string]any {
	r := map[string]any{
		"group": "group0",
		"handle": []any{map[string]any{
			"handler": "subroute",
			"routes":  []any{map[string]any{"handle": []any{map[string]any{"handler": "static_response", "status_code": 200}}}},
		}},
	}
	if path != "" {
		r["match"] = []any{map[string]any{"path": []string{path}}}
	}
	return r
}

// site is a site block (a subroute) holding routes.
func site(routes ...map[string]any) map[string]any {
	return map[string]any{"routes": routes} // loaded by module id: no "handler" key
}

func load(b *testing.B, cfg map[string]any) caddyhttp.Handler {
	b.Helper()
	raw, err := json.Marshal(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	b.Cleanup(cancel)
	mod, err := ctx.LoadModuleByID("http.handlers.subroute", raw)
	if err != nil {
		b.Fatal(err)
	}
	sr := mod.(caddyhttp.MiddlewareHandler)
	end := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	return caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error { return sr.ServeHTTP(w, r, end) })
}

// BenchmarkSiteRoutes: one route (bench/Caddyfile.plain) against the nine
// handle blocks of bench/Caddyfile.bench, requesting the first and the
// seventh path.
func BenchmarkSiteRoutes(b *testing.B) {
	paths := []string{"/open/*", "/login", "/session/*", "/key/*", "/jwt/*", "/oidc/*", "/users", "/batch"}
	var gw []map[string]any
	for _, p := range paths {
		gw = append(gw, route(p))
	}
	gw = append(gw, route(""))
	one := map[string]any{"handle": []any{map[string]any{"handler": "static_response", "status_code": 200}}}
	for _, tc := range []struct {
		name, path string
		cfg        map[string]any
	}{
		{"plain one route", "/open/items", site(one)},
		{"nine handle blocks /open", "/open/items", site(gw...)},
		{"nine handle blocks /users", "/users", site(gw...)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			h := load(b, tc.cfg)
			r := httptest.NewRequest("GET", tc.path, nil)
			repl := caddy.NewReplacer()
			ctx := context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl)
			ctx = context.WithValue(ctx, caddyhttp.VarsCtxKey, map[string]any{})
			// the route group map Caddy's server makes per request
			groups := map[string]struct{}{}
			ctx = context.WithValue(ctx, caddy.CtxKey("route_group"), groups)
			r = r.WithContext(ctx)
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				clear(groups)
				if err := h.ServeHTTP(w, r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
