package validation

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Options are the settings of an apigw_validate handler, as its JSON
// config and its Caddyfile directive give them. Check checks them; Compile
// makes the Validator.
type Options struct {
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
}

// CheckMediaType checks a configured content type.
func CheckMediaType(ct string) error {
	if !strings.Contains(ct, "/") || strings.ContainsAny(ct, " ;") {
		return fmt.Errorf("apigw_validate content_type: %q is not a media type like application/json", ct)
	}
	return nil
}

// schemaSource is one of the three schemas: inline or in a file.
type schemaSource struct {
	name   string
	inline json.RawMessage
	file   string
}

func (o *Options) schemas() [3]schemaSource {
	return [3]schemaSource{{"body_schema", o.BodySchema, o.BodySchemaFile},
		{"query_schema", o.QuerySchema, o.QuerySchemaFile}, {"header_schema", o.HeaderSchema, o.HeaderSchemaFile}}
}

// Check checks the options without reading files or compiling.
func (o *Options) Check() error {
	if o.MaxBody < 0 || o.MaxDepth < 0 || o.MaxKeys < 0 {
		return errors.New("apigw_validate: max_body, max_depth and max_keys must not be negative")
	}
	for _, ct := range o.ContentTypes {
		if err := CheckMediaType(ct); err != nil {
			return err
		}
	}
	for _, s := range o.schemas() {
		if len(s.inline) > 0 && s.file != "" {
			return fmt.Errorf("apigw_validate: both %s and %s_file are set: use one", s.name, s.name)
		}
	}
	return nil
}

// CheckInline is Check, and compiles the inline schemas (so `caddy
// adapt` reports their mistakes).
func (o *Options) CheckInline() error {
	if err := o.Check(); err != nil {
		return err
	}
	for _, s := range o.schemas() {
		if len(s.inline) > 0 {
			if _, _, err := o.compile(s.name, "apigw_validate "+s.name, s.inline); err != nil {
				return err
			}
		}
	}
	return nil
}

// compile compiles the schema name from src.
func (o *Options) compile(name, where string, src []byte) (*Schema, *ParamSchema, error) {
	if name == "body_schema" {
		s, err := CompileSchema(where, src, o.Strict)
		return s, nil, err
	}
	in := strings.TrimSuffix(name, "_schema")
	ps, err := CompileParamSchema(where, in, src, o.Strict && in == "query")
	return nil, ps, err
}

// Compile reads the schema files and the OpenAPI document, compiles
// everything once and returns the Validator.
func (o *Options) Compile() (*Validator, error) {
	if err := o.Check(); err != nil {
		return nil, err
	}
	lim := DefaultLimits
	if o.MaxDepth > 0 {
		lim.MaxDepth = o.MaxDepth
	}
	if o.MaxKeys > 0 {
		lim.MaxKeys = o.MaxKeys
	}
	lim.RejectDollarKeys = boolOr(o.RejectDollarKeys, true)
	lim.RejectDottedKeys = o.RejectDottedKeys
	lim.RejectControlChars = boolOr(o.RejectControlChars, true)
	cfg := Config{MaxBody: o.MaxBody, ContentTypes: o.ContentTypes, Limits: lim, QueryDefaults: boolOr(o.QueryDefaults, true)}
	for _, s := range o.schemas() {
		src, where := []byte(s.inline), "apigw_validate "+s.name
		if s.file != "" {
			b, err := os.ReadFile(s.file)
			if err != nil {
				return nil, fmt.Errorf("apigw_validate %s_file: %w", s.name, err)
			}
			src, where = b, "apigw_validate "+s.name+"_file "+s.file
		}
		if len(src) == 0 {
			continue
		}
		body, params, err := o.compile(s.name, where, src)
		if err != nil {
			return nil, err
		}
		switch s.name {
		case "body_schema":
			cfg.Body = body
		case "query_schema":
			cfg.Query = params
		default:
			cfg.Header = params
		}
	}
	if o.OpenAPI != "" {
		doc, err := LoadOpenAPI(o.OpenAPI)
		if err != nil {
			return nil, fmt.Errorf("apigw_validate openapi: %w", err)
		}
		cfg.OpenAPI = doc
	}
	return New(cfg), nil
}

func boolOr(b *bool, def bool) bool {
	if b == nil {
		return def
	}
	return *b
}
