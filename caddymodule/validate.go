package caddymodule

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/apigw/caddy-apigw/problem"
	"github.com/apigw/caddy-apigw/validation"
)

func init() {
	caddy.RegisterModule(Validate{})
	registerGatewayHandlerDirective("apigw_validate", parseValidate)
}

// Validate checks requests before they go on: body size (413
// payload_too_large), media type (415 unsupported_media_type), JSON
// well-formedness with depth, width and duplicate-key limits, NoSQL
// operator keys and control characters, and JSON Schema 2020-12 for the
// body, query and headers, or a whole OpenAPI 3 document. Any other
// failure is 400 validation_failed with field-level errors. The body is
// read (when a body option is set, or no schema at all) once, bounded,
// and handed on byte-identical; nothing is rewritten
// except that absent query parameters with a schema default are added to
// the upstream query (see QueryDefaults).
type Validate struct {
	validation.Options

	v         *validation.Validator
	logger    *zap.Logger
	maxPooled int // the largest body buffer put back in bodyBufs
}

// CaddyModule returns the Caddy module information.
func (Validate) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.apigw_validate",
		New: func() caddy.Module { return new(Validate) },
	}
}

// Provision compiles the schemas and the OpenAPI document once.
func (v *Validate) Provision(ctx caddy.Context) error {
	v.logger = ctx.Logger()
	RedactCredentialHeaders(ctx, "")
	limit := v.MaxBody
	if limit <= 0 {
		limit = validation.DefaultMaxBody
	}
	v.maxPooled = int(min(limit, maxPooledBody)) + pooledSlack
	var err error
	v.v, err = v.Compile()
	return err
}

// Validate checks the configuration.
func (v *Validate) Validate() error { return v.Check() }

// bodyBufs recycles body buffers up to the default body limit (a pool
// is emptied by the garbage collector, so idle buffers do not stay).
var bodyBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// A buffer that held a body up to the handler's max_body (at most
// maxPooledBody) goes back to the pool, with pooledSlack for the read
// margin (bytes.MinRead) and the rounding of a large allocation up to
// whole pages: a 1 MB body under the default 1 MiB limit needs a
// 1,056,768-byte buffer, and allocating (and zeroing) one per request
// was measured at ~8 % of the CPU of a 1 MB POST (memclr and GC).
const (
	maxPooledBody = 8 << 20
	pooledSlack   = 64 << 10
)

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (v *Validate) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	buf := bodyBufs.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= v.maxPooled {
			bodyBufs.Put(buf)
		}
	}()
	if err := v.v.Validate(r, buf); err != nil {
		p := problemWithFields(err)
		fields := make([]string, 0, len(p.Errors))
		for _, fe := range p.Errors {
			fields = append(fields, fe.Field+" "+fe.Rule)
		}
		Audit(r, "validation_rejected", p.Code, zap.Int("status", p.Status), zap.Strings("errors", fields))
		if c := v.logger.Check(zapcore.DebugLevel, "request rejected by validation"); c != nil {
			c.Write(zap.String("request_id", RequestID(w, r)), zap.String("code", p.Code), zap.Strings("errors", fields))
		}
		return Fail(p)
	}
	return next.ServeHTTP(w, r)
}

// problemWithFields is problemFromError with the field errors of a
// validation failure.
func problemWithFields(err error) *problem.Problem {
	p := problemFromError(err)
	p.Errors = validation.FieldErrors(err)
	return p
}

// parseValidate sets up apigw_validate.
//
// Syntax:
//
//	apigw_validate [<matcher>] {
//	    max_body <size>
//	    content_type <media-type...>
//	    strict
//	    body_schema <inline JSON Schema>
//	    body_schema_file <path>
//	    query_schema <inline JSON Schema>
//	    query_schema_file <path>
//	    query_defaults on|off
//	    header_schema <inline JSON Schema>
//	    header_schema_file <path>
//	    openapi <file>
//	    max_depth <n>
//	    max_keys <n>
//	    reject_dollar_keys [on|off]
//	    reject_dotted_keys [on|off]
//	    reject_control_chars [on|off]
//	}
//
// Inline schemas are usually written between backticks.
func parseValidate(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	h.Next() // consume directive name
	v := new(Validate)
	if h.NextArg() {
		return nil, h.ArgErr()
	}
	onOff := func(opt string) (bool, error) {
		if !h.NextArg() {
			return true, nil
		}
		val := h.Val()
		if h.NextArg() {
			return false, h.ArgErr()
		}
		switch val {
		case "on", "true":
			return true, nil
		case "off", "false":
			return false, nil
		}
		return false, h.Errf("apigw_validate %s: %q must be on or off", opt, val)
	}
	oneArg := func() (string, error) {
		if !h.NextArg() {
			return "", h.ArgErr()
		}
		val := h.Val()
		if h.NextArg() {
			return "", h.ArgErr()
		}
		return val, nil
	}
	for h.NextBlock(0) {
		opt := h.Val()
		switch opt {
		case "max_body":
			val, err := oneArg()
			if err != nil {
				return nil, err
			}
			n, err := humanize.ParseBytes(val)
			if err != nil || n == 0 || n > 1<<40 {
				return nil, h.Errf("apigw_validate max_body: %q is not a size like 1MiB or 64KB", val)
			}
			v.MaxBody = int64(n)
		case "content_type":
			args := h.RemainingArgs()
			if len(args) == 0 {
				return nil, h.ArgErr()
			}
			for _, ct := range args {
				if err := validation.CheckMediaType(ct); err != nil {
					return nil, h.Errf("%v", err)
				}
				v.ContentTypes = append(v.ContentTypes, strings.ToLower(ct))
			}
		case "strict":
			if h.NextArg() {
				return nil, h.ArgErr()
			}
			v.Strict = true
		case "body_schema", "query_schema", "header_schema":
			val, err := oneArg()
			if err != nil {
				return nil, err
			}
			if !json.Valid([]byte(val)) {
				return nil, h.Errf("apigw_validate %s: not valid JSON (write the schema between backticks)", opt)
			}
			*map[string]*json.RawMessage{"body_schema": &v.BodySchema, "query_schema": &v.QuerySchema,
				"header_schema": &v.HeaderSchema}[opt] = json.RawMessage(val)
		case "body_schema_file", "query_schema_file", "header_schema_file", "openapi":
			val, err := oneArg()
			if err != nil {
				return nil, err
			}
			*map[string]*string{"body_schema_file": &v.BodySchemaFile, "query_schema_file": &v.QuerySchemaFile,
				"header_schema_file": &v.HeaderSchemaFile, "openapi": &v.OpenAPI}[opt] = val
		case "max_depth", "max_keys":
			val, err := oneArg()
			if err != nil {
				return nil, err
			}
			n, err := strconv.Atoi(val)
			if err != nil || n <= 0 {
				return nil, h.Errf("apigw_validate %s: %q is not a positive number", opt, val)
			}
			*map[string]*int{"max_depth": &v.MaxDepth, "max_keys": &v.MaxKeys}[opt] = n
		case "reject_dollar_keys", "reject_control_chars", "query_defaults":
			b, err := onOff(opt)
			if err != nil {
				return nil, err
			}
			*map[string]**bool{"reject_dollar_keys": &v.RejectDollarKeys, "reject_control_chars": &v.RejectControlChars,
				"query_defaults": &v.QueryDefaults}[opt] = &b
		case "reject_dotted_keys":
			b, err := onOff(opt)
			if err != nil {
				return nil, err
			}
			v.RejectDottedKeys = b
		default:
			return nil, h.Errf("apigw_validate: unknown option %q (known: max_body, content_type, strict, body_schema, body_schema_file, query_schema, query_schema_file, query_defaults, header_schema, header_schema_file, openapi, max_depth, max_keys, reject_dollar_keys, reject_dotted_keys, reject_control_chars)", opt)
		}
	}
	// Compile inline schemas now, so `caddy adapt` reports mistakes.
	if err := v.CheckInline(); err != nil {
		return nil, h.Errf("%v", err)
	}
	return v, nil
}

// Interface guards
var (
	_ caddyhttp.MiddlewareHandler = (*Validate)(nil)
	_ caddy.Provisioner           = (*Validate)(nil)
	_ caddy.Validator             = (*Validate)(nil)
)
