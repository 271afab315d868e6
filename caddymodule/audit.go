package caddymodule

import (
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// AuditLoggerName is the name of the logger that receives one entry per
// security decision. Route it to a file of its own with Caddy's `log`
// global option: `log audit { include apigw.audit  output file audit.log }`.
const AuditLoggerName = "apigw.audit"

// Audit writes one structured entry about a security decision (event such
// as "auth_failed", "rate_limited", "validation_rejected", "csrf_rejected",
// "upstream_scrubbed") with the request id, client IP, identity, method and
// route, and Caddy's trace_id and span_id when the tracing directive is on.
// Never pass a secret in fields. It also counts the decision in the
// apigw_rejected_requests_total metric (and apigw_authentications_total
// for auth codes, with the method from a zap.String("auth_method", …)
// field or the identity).
func Audit(r *http.Request, event, code string, fields ...zap.Field) {
	id := IdentityOf(r)
	method := ""
	if id != nil {
		method = id.Method
	}
	observeAudit(event, code, method, fields)
	logger := caddy.Log().Named(AuditLoggerName)
	c := logger.Check(zapcore.InfoLevel, event)
	if c == nil {
		return
	}
	base := make([]zap.Field, 0, 9+len(fields))
	base = append(base,
		zap.String("event", event),
		zap.String("code", code),
		zap.String("request_id", RequestID(nil, r)),
		zap.String("method", r.Method),
		zap.String("route", r.URL.Path),
	)
	if ip, ok := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string); ok {
		base = append(base, zap.String("client_ip", ip))
	}
	if id != nil {
		base = append(base, zap.String("identity", id.ID), zap.String("auth_method", id.Method))
	}
	// set by Caddy's tracing directive (modules/caddyhttp/tracing) when on
	if tid, ok := caddyhttp.GetVar(r.Context(), "trace_id").(string); ok && tid != "" {
		base = append(base, zap.String("trace_id", tid))
		if sid, ok := caddyhttp.GetVar(r.Context(), "span_id").(string); ok && sid != "" {
			base = append(base, zap.String("span_id", sid))
		}
	}
	c.Write(append(base, fields...)...)
}
