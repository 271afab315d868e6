package caddymodule

import (
	"reflect"
	"runtime"
	"sync"
	"weak"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/apigw/caddy-apigw/redact"
)

// RedactCredentialHeaders makes the access log and the error log of the
// server being provisioned show the named request headers as "REDACTED"
// (with redact.DefaultHeaders and every name given by other directives
// of the server), for every request of the server, on every route,
// whether or not a route has an auth directive: clients send keys and
// tokens to routes that do not check them too. cookie, if not empty, is
// a cookie whose value is redacted (the other cookies stay visible when
// Caddy's log_credentials is on; otherwise Caddy redacts the whole Cookie
// header). Call it from Provision; it does nothing outside an HTTP
// server.
//
// Mechanism: Caddy clones each request for its access log before any
// handler runs, and encodes the clone's headers with a fixed list
// (caddyhttp.LoggableHTTPRequest). No handler can reach that clone, and
// log filters would have to be written into every `log` block by hand
// (and are lost by any format that is not `filter`). So this wraps the
// server's two request loggers, at provision time before the server
// serves, in a zap core that swaps the "request" field's marshaler for
// one that redacts these headers. The loggers are private fields of
// caddyhttp.Server, reached by reflection: TestLogRedactionHooksCaddy
// fails if a Caddy upgrade renames them, and until then a WARN says that
// redaction is off.
func RedactCredentialHeaders(ctx caddy.Context, cookie string, headers ...string) {
	if ctx.Context == nil { // a handler provisioned outside a server (unit tests)
		return
	}
	srv, ok := ctx.Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server)
	if !ok || srv == nil {
		return
	}
	serverCredentials(srv, ctx.Logger()).Add(cookie, headers)
}

// policies holds each server's credential names (the server held
// weakly: its entry goes when a config unload lets it be collected).
// The access log redacts them and apigw_strip_credentials removes them
// from the upstream request, so that list does not depend on the log
// hook below succeeding.
var (
	policiesMu sync.Mutex // also serializes the hook's installation
	policies   = map[weak.Pointer[caddyhttp.Server]]*redact.Policy{}
)

// serverCredentials returns the credential names of srv, creating them
// (with the defaults) and installing the redaction on the server's
// loggers the first time.
func serverCredentials(srv *caddyhttp.Server, logger *zap.Logger) *redact.Policy {
	policiesMu.Lock()
	defer policiesMu.Unlock()
	key := weak.Make(srv)
	if p, ok := policies[key]; ok {
		return p
	}
	red := redact.NewPolicy()
	policies[key] = red
	runtime.AddCleanup(srv, func(k weak.Pointer[caddyhttp.Server]) {
		policiesMu.Lock()
		defer policiesMu.Unlock()
		delete(policies, k)
	}, key)
	loggers, ok := serverRequestLoggers(srv)
	if !ok {
		logger.Warn("cannot redact credentials in this Caddy version's access log: the server's loggers were not found; add a `format filter` to your log blocks")
		return red
	}
	for _, l := range loggers {
		*l = *l.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core { return &redactCore{Core: c, r: red} }))
	}
	return red
}

// serverRequestLoggers returns the server's access logger (nil unless
// access logs are on) and error logger, which both log the request.
func serverRequestLoggers(srv *caddyhttp.Server) ([]*zap.Logger, bool) {
	v := reflect.ValueOf(srv).Elem()
	want := reflect.TypeFor[*zap.Logger]()
	var out []*zap.Logger
	for _, name := range []string{"accessLogger", "errorLogger"} {
		f := v.FieldByName(name)
		if !f.IsValid() || f.Type() != want {
			return nil, false
		}
		if f.IsNil() {
			continue
		}
		out = append(out, (*zap.Logger)(f.UnsafePointer()))
	}
	return out, true
}

// redactCore rewrites the "request" field that Caddy's server loggers
// carry (added with WithLazy, so it reaches With when the first entry is
// written, after the handlers ran).
type redactCore struct {
	zapcore.Core
	r *redact.Policy
}

func (c *redactCore) With(fields []zapcore.Field) zapcore.Core {
	return &redactCore{Core: c.Core.With(redactFields(c.r, fields)), r: c.r}
}

// Check lets the wrapped core decide, and routes the entry's Write through
// writeRedactor, so fields given at write time (Caddy's resp_headers,
// with the Set-Cookie of a login) are rewritten too. Writing to the
// wrapped core directly would skip its own per-logger filtering.
func (c *redactCore) Check(ent zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	inner := c.Core.Check(ent, nil)
	if inner == nil {
		return ce
	}
	return ce.AddCore(ent, &writeRedactor{inner: inner, r: c.r})
}

// writeRedactor is the core of one checked entry: it writes the entry to
// the cores the wrapped core chose, with the fields rewritten.
type writeRedactor struct {
	inner *zapcore.CheckedEntry
	r     *redact.Policy
}

func (w *writeRedactor) Enabled(zapcore.Level) bool        { return true }
func (w *writeRedactor) With([]zapcore.Field) zapcore.Core { return w }
func (w *writeRedactor) Sync() error                       { return nil }
func (w *writeRedactor) Write(_ zapcore.Entry, fields []zapcore.Field) error {
	w.inner.Write(redactFields(w.r, fields)...)
	return nil
}
func (w *writeRedactor) Check(_ zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	return ce
}

// redactFields returns fields with Caddy's request and response-header
// marshalers replaced by redacting ones (a copy if any is replaced).
func redactFields(r *redact.Policy, fields []zapcore.Field) []zapcore.Field {
	out := fields
	for i, f := range fields {
		if f.Type != zapcore.ObjectMarshalerType {
			continue
		}
		var repl zapcore.ObjectMarshaler
		switch v := f.Interface.(type) {
		case caddyhttp.LoggableHTTPRequest:
			if v.Request != nil {
				repl = redactedRequest{req: v, r: r}
			}
		case caddyhttp.LoggableHTTPHeader:
			if v.ShouldLogCredentials {
				repl = caddyhttp.LoggableHTTPHeader{Header: r.ResponseHeader(v.Header), ShouldLogCredentials: true}
			}
		}
		if repl == nil {
			continue
		}
		if &out[0] == &fields[0] {
			out = append([]zapcore.Field(nil), fields...)
		}
		out[i].Interface = repl
	}
	return out
}

// redactedRequest marshals a request like caddyhttp.LoggableHTTPRequest,
// with the redactor's headers replaced.
type redactedRequest struct {
	req caddyhttp.LoggableHTTPRequest
	r   *redact.Policy
}

func (rr redactedRequest) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	shallow := *rr.req.Request
	shallow.Header = rr.r.Header(rr.req.Header, rr.req.ShouldLogCredentials)
	shallow.RequestURI = redact.Query(shallow.RequestURI)
	return caddyhttp.LoggableHTTPRequest{Request: &shallow, ShouldLogCredentials: rr.req.ShouldLogCredentials}.MarshalLogObject(enc)
}

// Interface guards
var (
	_ zapcore.Core            = (*redactCore)(nil)
	_ zapcore.Core            = (*writeRedactor)(nil)
	_ zapcore.ObjectMarshaler = redactedRequest{}
)
