package caddymodule

import (
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// DefaultRedactedHeaders are the request headers that the access and
// error logs of every server using our directives show as "REDACTED":
// credentials of every kind the gateway knows (Caddy itself redacts only
// Authorization, Proxy-Authorization, Cookie and Set-Cookie, and shows
// them all once log_credentials is on). Directives add the headers they
// are configured to read (an API key header other than X-API-Key, ...).
var DefaultRedactedHeaders = []string{
	"Authorization", "Proxy-Authorization", "X-Api-Key", "X-Signature",
	"Signature", "Signature-Input", "Dpop",
}

// RedactCredentialHeaders makes the access log and the error log of the
// server being provisioned show the named request headers as "REDACTED"
// (with DefaultRedactedHeaders and every name given by other directives
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
	red := serverRedactor(srv, ctx.Logger())
	if red == nil {
		return
	}
	red.add(cookie, headers)
}

// redactorsMu serializes installation (provisioning of several handlers
// of one server happens in one goroutine, but several configs may be
// provisioned at once).
var redactorsMu sync.Mutex

// serverRedactor returns the redactor of srv, installing it on the
// server's loggers the first time.
func serverRedactor(srv *caddyhttp.Server, logger *zap.Logger) *redactor {
	redactorsMu.Lock()
	defer redactorsMu.Unlock()
	loggers, ok := serverRequestLoggers(srv)
	if !ok {
		logger.Warn("cannot redact credentials in this Caddy version's access log: the server's loggers were not found; add a `format filter` to your log blocks")
		return nil
	}
	for _, l := range loggers {
		if rc, ok := l.Core().(*redactCore); ok {
			return rc.r
		}
	}
	red := newRedactor()
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

// redactor holds a server's redacted header and cookie names.
type redactor struct {
	mu      sync.RWMutex
	headers map[string]bool // canonical names
	cookies map[string]bool
}

func newRedactor() *redactor {
	r := &redactor{headers: map[string]bool{}, cookies: map[string]bool{}}
	r.add("", DefaultRedactedHeaders)
	return r
}

func (r *redactor) add(cookie string, headers []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, h := range headers {
		if h != "" {
			r.headers[http.CanonicalHeaderKey(h)] = true
		}
	}
	if cookie != "" {
		r.cookies[cookie] = true
	}
}

// header returns a copy of h with the redacted headers (and, when Caddy
// would show cookies, the redacted cookies' values) replaced.
func (r *redactor) header(h http.Header, showCredentials bool) http.Header {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make(http.Header, len(h))
	for k, v := range h {
		switch {
		case r.headers[http.CanonicalHeaderKey(k)]:
			out[k] = []string{"REDACTED"}
		case showCredentials && http.CanonicalHeaderKey(k) == "Cookie" && len(r.cookies) > 0:
			vals := make([]string, len(v))
			for i, line := range v {
				vals[i] = r.cookieLine(line)
			}
			out[k] = vals
		default:
			out[k] = v
		}
	}
	return out
}

// cookieLine redacts the values of the redacted cookies in one Cookie
// header line, keeping the others.
func (r *redactor) cookieLine(line string) string {
	parts := strings.Split(line, ";")
	for i, p := range parts {
		name, _, _ := strings.Cut(strings.TrimSpace(p), "=")
		if r.cookies[name] {
			parts[i] = " " + name + "=REDACTED"
			if i == 0 {
				parts[i] = parts[i][1:]
			}
		}
	}
	return strings.Join(parts, ";")
}

// redactCore rewrites the "request" field that Caddy's server loggers
// carry (added with WithLazy, so it reaches With when the first entry is
// written, after the handlers ran).
type redactCore struct {
	zapcore.Core
	r *redactor
}

func (c *redactCore) With(fields []zapcore.Field) zapcore.Core {
	return &redactCore{Core: c.Core.With(c.r.fields(fields)), r: c.r}
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
	r     *redactor
}

func (w *writeRedactor) Enabled(zapcore.Level) bool        { return true }
func (w *writeRedactor) With([]zapcore.Field) zapcore.Core { return w }
func (w *writeRedactor) Sync() error                       { return nil }
func (w *writeRedactor) Write(_ zapcore.Entry, fields []zapcore.Field) error {
	w.inner.Write(w.r.fields(fields)...)
	return nil
}
func (w *writeRedactor) Check(_ zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	return ce
}

// fields returns fields with Caddy's request and response-header
// marshalers replaced by redacting ones (a copy if any is replaced).
func (r *redactor) fields(fields []zapcore.Field) []zapcore.Field {
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
				repl = caddyhttp.LoggableHTTPHeader{Header: r.responseHeader(v.Header), ShouldLogCredentials: true}
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

// responseHeader returns h with the redacted cookies' values in
// Set-Cookie replaced (Caddy shows Set-Cookie only with log_credentials).
func (r *redactor) responseHeader(h http.Header) http.Header {
	r.mu.RLock()
	defer r.mu.RUnlock()
	sc := h.Values("Set-Cookie")
	if len(sc) == 0 || len(r.cookies) == 0 {
		return h
	}
	out := h.Clone()
	vals := make([]string, len(sc))
	for i, line := range sc {
		name, rest, _ := strings.Cut(line, "=")
		if r.cookies[strings.TrimSpace(name)] {
			_, attrs, _ := strings.Cut(rest, ";")
			line = name + "=REDACTED"
			if attrs != "" {
				line += ";" + attrs
			}
		}
		vals[i] = line
	}
	out["Set-Cookie"] = vals
	return out
}

// redactedRequest marshals a request like caddyhttp.LoggableHTTPRequest,
// with the redactor's headers replaced.
type redactedRequest struct {
	req caddyhttp.LoggableHTTPRequest
	r   *redactor
}

func (rr redactedRequest) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	shallow := *rr.req.Request
	shallow.Header = rr.r.header(rr.req.Header, rr.req.ShouldLogCredentials)
	shallow.RequestURI = redactQuery(shallow.RequestURI)
	return caddyhttp.LoggableHTTPRequest{Request: &shallow, ShouldLogCredentials: rr.req.ShouldLogCredentials}.MarshalLogObject(enc)
}

// redactedQueryParams are query parameters that carry credentials or
// one-time secrets: the OIDC callback's code and state, and tokens some
// clients put in URLs.
var redactedQueryParams = map[string]bool{
	"code": true, "state": true, "access_token": true, "id_token": true,
	"refresh_token": true, "token": true, "client_secret": true, "api_key": true,
}

// redactQuery returns uri with the values of redactedQueryParams
// replaced by REDACTED (uri itself when it has none).
func redactQuery(uri string) string {
	path, query, ok := strings.Cut(uri, "?")
	if !ok || query == "" {
		return uri
	}
	parts := strings.Split(query, "&")
	changed := false
	for i, p := range parts {
		name, _, _ := strings.Cut(p, "=")
		if un, err := url.QueryUnescape(name); err == nil {
			name = un
		}
		if redactedQueryParams[strings.ToLower(name)] {
			parts[i] = name + "=REDACTED"
			changed = true
		}
	}
	if !changed {
		return uri
	}
	return path + "?" + strings.Join(parts, "&")
}

// Interface guards
var (
	_ zapcore.Core            = (*redactCore)(nil)
	_ zapcore.Core            = (*writeRedactor)(nil)
	_ zapcore.ObjectMarshaler = redactedRequest{}
)
