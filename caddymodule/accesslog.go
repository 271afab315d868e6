package caddymodule

import (
	"net/http"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// accessLogged reports whether Caddy may write an access log entry for r,
// so extra log fields (caddyhttp.ExtraLogFields) are only built when
// something will read them. Caddy has no per-request flag for it: its
// server logs requests only when the server has a log configuration
// (Server.Logs, set by the `log` directive) and the request is not
// marked with the log_skip variable. Without a server in the context (a
// handler used outside Caddy's server), it answers true.
func accessLogged(r *http.Request) bool {
	srv, ok := r.Context().Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server)
	if !ok {
		return true
	}
	if srv.Logs == nil {
		return false
	}
	skip, _ := caddyhttp.GetVar(r.Context(), caddyhttp.LogSkipVar).(bool)
	return !skip
}
