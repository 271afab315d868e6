package caddymodule

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func TestAccessLogged(t *testing.T) {
	for _, tc := range []struct {
		name string
		srv  *caddyhttp.Server
		skip bool
		want bool
	}{
		{"no server", nil, false, true},
		{"no log config", &caddyhttp.Server{}, false, false},
		{"logged", &caddyhttp.Server{Logs: &caddyhttp.ServerLogConfig{}}, false, true},
		{"log_skip", &caddyhttp.Server{Logs: &caddyhttp.ServerLogConfig{}}, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			ctx := context.WithValue(r.Context(), caddyhttp.VarsCtxKey, map[string]any{})
			if tc.srv != nil {
				ctx = context.WithValue(ctx, caddyhttp.ServerCtxKey, tc.srv)
			}
			r = r.WithContext(ctx)
			if tc.skip {
				caddyhttp.SetVar(ctx, caddyhttp.LogSkipVar, true)
			}
			if got := accessLogged(r); got != tc.want {
				t.Fatalf("accessLogged = %v, want %v", got, tc.want)
			}
		})
	}
}
