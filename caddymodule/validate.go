package caddymodule

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
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
	// MaxBody is the largest request body accepted, in bytes (default
	// 1 MiB when the body is checked at all).
	MaxBody int64 `json:"max_body,omitempty"`
	// ContentTypes are the accepted body media types ("application/json",
	// "application/*", "application/*+json"). Default with a body schema:
	// application/json and application/*+json.
	ContentTypes []string `json:"content_types,omitempty"`
	// Strict rejects unknown properties in every object of the body and
	// query schemas that does not set additionalProperties or
	// unevaluatedProperties itself.
	Strict bool `json:"strict,omitempty"`
	// BodySchema is an inline JSON Schema for JSON bodies.
	BodySchema json.RawMessage `json:"body_schema,omitempty"`
	// BodySchemaFile is a file holding the body schema.
	BodySchemaFile string `json:"body_schema_file,omitempty"`
	// QuerySchema is an inline JSON Schema over the query as an object;
	// each parameter's string is converted to the type its property
	// declares before validation.
	QuerySchema json.RawMessage `json:"query_schema,omitempty"`
	// QuerySchemaFile is a file holding the query schema.
	QuerySchemaFile string `json:"query_schema_file,omitempty"`
	// HeaderSchema is an inline JSON Schema over request headers as an
	// object (property names match header names case-insensitively;
	// undeclared headers are ignored).
	HeaderSchema json.RawMessage `json:"header_schema,omitempty"`
	// HeaderSchemaFile is a file holding the header schema.
	HeaderSchemaFile string `json:"header_schema_file,omitempty"`
	// OpenAPI is the path of an OpenAPI 3 document (JSON or YAML): the
	// operation is found by path and method (404/405 otherwise), then its
	// parameters and request body are validated.
	OpenAPI string `json:"openapi,omitempty"`
	// MaxDepth caps JSON nesting (default 32).
	MaxDepth int `json:"max_depth,omitempty"`
	// MaxKeys caps the members of one JSON object or array (default 1000).
	MaxKeys int `json:"max_keys,omitempty"`
	// RejectDollarKeys rejects '$'-prefixed keys in JSON bodies and query
	// parameter names (default true).
	RejectDollarKeys *bool `json:"reject_dollar_keys,omitempty"`
	// RejectDottedKeys rejects keys containing '.' (default false).
	RejectDottedKeys bool `json:"reject_dotted_keys,omitempty"`
	// RejectControlChars rejects NUL and other control characters in JSON
	// strings, query values and validated headers (default true).
	RejectControlChars *bool `json:"reject_control_chars,omitempty"`
	// QueryDefaults adds the query schema's defaults for absent
	// parameters to the query the upstream receives (default true), so
	// `GET /users` reaches it as `/users?limit=20&page=1&sort=desc`.
	// Parameters the client sent are never changed.
	QueryDefaults *bool `json:"query_defaults,omitempty"`

	v      *validation.Validator
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Validate) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.apigw_validate",
		New: func() caddy.Module { return new(Validate) },
	}
}

func boolOr(b *bool, def bool) bool {
	if b == nil {
		return def
	}
	return *b
}

func schemaSource(inline json.RawMessage, file, name string) ([]byte, string, error) {
	if len(inline) > 0 && file != "" {
		return nil, "", fmt.Errorf("apigw_validate: both %s and %s_file are set: use one", name, name)
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, "", fmt.Errorf("apigw_validate %s_file: %w", name, err)
		}
		return b, "apigw_validate " + name + "_file " + file, nil
	}
	return inline, "apigw_validate " + name, nil
}

// Provision compiles the schemas and the OpenAPI document once.
func (v *Validate) Provision(ctx caddy.Context) error {
	v.logger = ctx.Logger()
	RedactCredentialHeaders(ctx, "")
	lim := validation.DefaultLimits
	if v.MaxDepth > 0 {
		lim.MaxDepth = v.MaxDepth
	}
	if v.MaxKeys > 0 {
		lim.MaxKeys = v.MaxKeys
	}
	lim.RejectDollarKeys = boolOr(v.RejectDollarKeys, true)
	lim.RejectDottedKeys = v.RejectDottedKeys
	lim.RejectControlChars = boolOr(v.RejectControlChars, true)
	cfg := validation.Config{
		MaxBody:       v.MaxBody,
		ContentTypes:  v.ContentTypes,
		Limits:        lim,
		QueryDefaults: boolOr(v.QueryDefaults, true),
	}
	if src, name, err := schemaSource(v.BodySchema, v.BodySchemaFile, "body_schema"); err != nil {
		return err
	} else if len(src) > 0 {
		if cfg.Body, err = validation.CompileSchema(name, src, v.Strict); err != nil {
			return err
		}
	}
	if src, name, err := schemaSource(v.QuerySchema, v.QuerySchemaFile, "query_schema"); err != nil {
		return err
	} else if len(src) > 0 {
		if cfg.Query, err = validation.CompileParamSchema(name, "query", src, v.Strict); err != nil {
			return err
		}
	}
	if src, name, err := schemaSource(v.HeaderSchema, v.HeaderSchemaFile, "header_schema"); err != nil {
		return err
	} else if len(src) > 0 {
		if cfg.Header, err = validation.CompileParamSchema(name, "header", src, false); err != nil {
			return err
		}
	}
	if v.OpenAPI != "" {
		o, err := validation.LoadOpenAPI(v.OpenAPI)
		if err != nil {
			return fmt.Errorf("apigw_validate openapi: %w", err)
		}
		cfg.OpenAPI = o
	}
	v.v = validation.New(cfg)
	return nil
}

// Validate checks the configuration.
func (v *Validate) Validate() error {
	if v.MaxBody < 0 || v.MaxDepth < 0 || v.MaxKeys < 0 {
		return fmt.Errorf("apigw_validate: max_body, max_depth and max_keys must not be negative")
	}
	for _, ct := range v.ContentTypes {
		if !strings.Contains(ct, "/") || strings.ContainsAny(ct, " ;") {
			return fmt.Errorf("apigw_validate content_type: %q is not a media type like application/json", ct)
		}
	}
	return nil
}

// bodyBufs recycles body buffers up to the default body limit (a pool
// is emptied by the garbage collector, so idle buffers do not stay).
var bodyBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBody covers a default-limit body read with its read margin:
// above 64 KiB the buffer was measured to cost more than validating the
// body in one pass.
const maxPooledBody = validation.DefaultMaxBody + 2*bytes.MinRead

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (v *Validate) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	buf := bodyBufs.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= maxPooledBody {
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
				if !strings.Contains(ct, "/") || strings.ContainsAny(ct, " ;") {
					return nil, h.Errf("apigw_validate content_type: %q is not a media type like application/json", ct)
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
			raw := json.RawMessage(val)
			switch opt {
			case "body_schema":
				v.BodySchema = raw
			case "query_schema":
				v.QuerySchema = raw
			default:
				v.HeaderSchema = raw
			}
		case "body_schema_file", "query_schema_file", "header_schema_file", "openapi":
			val, err := oneArg()
			if err != nil {
				return nil, err
			}
			switch opt {
			case "body_schema_file":
				v.BodySchemaFile = val
			case "query_schema_file":
				v.QuerySchemaFile = val
			case "header_schema_file":
				v.HeaderSchemaFile = val
			default:
				v.OpenAPI = val
			}
		case "max_depth", "max_keys":
			val, err := oneArg()
			if err != nil {
				return nil, err
			}
			n, err := strconv.Atoi(val)
			if err != nil || n <= 0 {
				return nil, h.Errf("apigw_validate %s: %q is not a positive number", opt, val)
			}
			if opt == "max_depth" {
				v.MaxDepth = n
			} else {
				v.MaxKeys = n
			}
		case "reject_dollar_keys", "reject_control_chars", "query_defaults":
			b, err := onOff(opt)
			if err != nil {
				return nil, err
			}
			switch opt {
			case "reject_dollar_keys":
				v.RejectDollarKeys = &b
			case "reject_control_chars":
				v.RejectControlChars = &b
			default:
				v.QueryDefaults = &b
			}
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
	for _, s := range []struct {
		name string
		src  json.RawMessage
		file string
	}{{"body_schema", v.BodySchema, v.BodySchemaFile}, {"query_schema", v.QuerySchema, v.QuerySchemaFile}, {"header_schema", v.HeaderSchema, v.HeaderSchemaFile}} {
		if len(s.src) > 0 && s.file != "" {
			return nil, h.Errf("apigw_validate: both %s and %s_file are set: use one", s.name, s.name)
		}
		if len(s.src) == 0 {
			continue
		}
		var err error
		if s.name == "body_schema" {
			_, err = validation.CompileSchema("apigw_validate "+s.name, s.src, v.Strict)
		} else {
			_, err = validation.CompileParamSchema("apigw_validate "+s.name, s.name[:strings.IndexByte(s.name, '_')], s.src, v.Strict)
		}
		if err != nil {
			return nil, h.Err(err.Error())
		}
	}
	return v, nil
}

// Interface guards
var (
	_ caddyhttp.MiddlewareHandler = (*Validate)(nil)
	_ caddy.Provisioner           = (*Validate)(nil)
	_ caddy.Validator             = (*Validate)(nil)
)
