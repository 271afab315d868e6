// Package validation checks HTTP requests before they reach an upstream:
// body size and media type, JSON well-formedness with depth, width and
// duplicate-key limits, NoSQL-operator and control-character
// sanitization, JSON Schema 2020-12 for bodies, query strings and
// headers, and whole OpenAPI 3 documents; and the one reader of JSON
// request bodies (body.go) that apigw_login and the admin API use too.
// Rejections are failure kinds (package failure); a validation failure
// carries field errors (FieldErrors) that never echo client input. Nothing
// here rewrites a request body: a request is passed on byte-identical or
// rejected.
package validation

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/apigw/caddy-apigw/problem"
)

// Config is what a Validator checks. Zero fields are off.
type Config struct {
	// MaxBody is the largest body accepted, in bytes (413 above it).
	MaxBody int64
	// ContentTypes are the accepted media types of a body: exact
	// ("application/json"), a subtype wildcard ("application/*"), a
	// structured-syntax suffix ("application/*+json") or "*/*".
	ContentTypes []string
	// Body validates JSON bodies.
	Body *Schema
	// Query validates the query string.
	Query *ParamSchema
	// Header validates request headers.
	Header *ParamSchema
	// OpenAPI validates the whole request against an API description.
	OpenAPI *OpenAPI
	// Limits apply to JSON bodies and query strings.
	Limits Limits
	// QueryDefaults adds the defaults of Query's absent parameters to the
	// query string the upstream receives (present parameters are never
	// changed).
	QueryDefaults bool
	// ReadBody makes the validator read and check the body. It is implied
	// by MaxBody, ContentTypes, Body and OpenAPI, and by having no schema
	// at all (a pure sanitizer).
	ReadBody bool
}

// Validator checks requests against a Config. It is safe for concurrent
// use; everything it needs was compiled when it was made.
type Validator struct {
	cfg  Config
	body BodyRules
}

// New returns a Validator for cfg.
func New(cfg Config) *Validator {
	if cfg.MaxBody > 0 || len(cfg.ContentTypes) > 0 || cfg.Body != nil || cfg.OpenAPI != nil {
		cfg.ReadBody = true
	}
	if cfg.Query == nil && cfg.Header == nil && cfg.Body == nil && cfg.OpenAPI == nil {
		// No schema at all: the handler is a sanitizer of the whole request.
		cfg.ReadBody = true
	}
	if cfg.ReadBody && cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if (cfg.Body != nil) && len(cfg.ContentTypes) == 0 {
		cfg.ContentTypes = []string{"application/json", "application/*+json"}
	}
	return &Validator{cfg: cfg, body: BodyRules{
		Max:        cfg.MaxBody,
		MediaTypes: cfg.ContentTypes,
		Words: BodyWords{
			MediaType: "the content type must be " + strings.Join(cfg.ContentTypes, " or "),
			TooLarge: func(limit int64) string {
				return "the request body exceeds " + strconv.FormatInt(limit, 10) + " bytes"
			},
		},
	}}
}

// DefaultMaxBody is the body limit when none is configured (1 MiB).
const DefaultMaxBody = 1 << 20

// Config returns the validator's effective configuration.
func (v *Validator) Config() Config { return v.cfg }

// Validate checks r. If the body is checked it is read once into buf
// (at most MaxBody+1 bytes) and r.Body is replaced by a reader of exactly
// those bytes, so the next handler sees the body unchanged; buf must stay
// untouched until the request is done. On success it may add query
// defaults to r.URL (if QueryDefaults is set). It returns nil or why r
// is refused: a failure kind (package failure), with field errors for
// failure.ErrValidationFailed (FieldErrors).
func (v *Validator) Validate(r *http.Request, buf *bytes.Buffer) error {
	c := &v.cfg
	var errs []problem.FieldError
	var applied [][2]string
	if c.Query != nil {
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			errs = append(errs, problem.FieldError{Field: "query", Rule: "syntax", Message: "the query string is malformed"})
		} else {
			var fes []problem.FieldError
			applied, fes = c.Query.ValidateQuery(q, c.Limits)
			errs = append(errs, fes...)
		}
	} else if c.Limits.RejectDollarKeys || c.Limits.RejectDottedKeys || c.Limits.RejectControlChars {
		errs = append(errs, v.sanitizeQuery(r.URL.RawQuery)...)
	}
	if c.Header != nil {
		errs = append(errs, c.Header.ValidateHeaders(r.Header, c.Limits)...)
	}
	var body []byte
	if c.ReadBody {
		var err error
		if body, err = v.body.Read(r, buf); err != nil {
			return err
		}
		switch {
		case len(body) > 0 && isJSON(headerValue(r.Header, "Content-Type")):
			if !v.onePass(body) {
				// Not shown valid in one pass: parse and validate with
				// the library, which words the errors.
				if val, fes := ParseJSON(body, c.Limits); len(fes) > 0 {
					errs = append(errs, fes...)
				} else if c.Body != nil {
					errs = append(errs, c.Body.Validate(val, "")...)
				}
			}
		case c.Body != nil && len(body) == 0:
			errs = append(errs, problem.FieldError{Field: "", Rule: "required", Message: "a JSON request body is required"})
		}
	}
	if len(errs) == 0 && c.OpenAPI != nil {
		err := c.OpenAPI.Validate(r.Context(), r, body)
		if c.ReadBody {
			setBody(r, body)
		}
		if err != nil {
			return err
		}
	}
	if len(errs) > 0 {
		if len(errs) > maxFieldErrors {
			errs = errs[:maxFieldErrors]
		}
		return Failed("the request did not pass validation", errs...)
	}
	if c.QueryDefaults && len(applied) > 0 {
		var b strings.Builder
		b.WriteString(r.URL.RawQuery)
		for _, kv := range applied {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			b.WriteString(url.QueryEscape(kv[0]))
			b.WriteByte('=')
			b.WriteString(url.QueryEscape(kv[1]))
		}
		r.URL.RawQuery = b.String()
	}
	return nil
}

// onePass reports whether body was shown valid (limits and schema) in
// one pass over its bytes (onepass.go), without building a document.
func (v *Validator) onePass(body []byte) bool {
	if v.cfg.Body == nil {
		return anyNode.accepts(body, v.cfg.Limits)
	}
	return v.cfg.Body.fast != nil && v.cfg.Body.fast.accepts(body, v.cfg.Limits)
}

// sanitizeQuery applies the operator and control-character rules to a
// query string that has no schema.
func (v *Validator) sanitizeQuery(raw string) []problem.FieldError {
	if raw == "" {
		return nil
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		return []problem.FieldError{{Field: "query", Rule: "syntax", Message: "the query string is malformed"}}
	}
	var errs []problem.FieldError
	for k, vals := range q {
		if fe, bad := checkParamName(k, v.cfg.Limits); bad {
			fe.Field = "query" + Pointer([]string{k})
			errs = append(errs, fe)
			continue
		}
		if v.cfg.Limits.RejectControlChars {
			for _, val := range vals {
				if HasControlChars(val) {
					errs = append(errs, problem.FieldError{Field: "query" + Pointer([]string{k}), Rule: "controlChars", Message: "the value contains control characters"})
					break
				}
			}
		}
	}
	return errs
}

// setBody makes r read body from its start. Content-Length is kept (a
// chunked request gets the length it turned out to have).
func setBody(r *http.Request, body []byte) {
	r.Body = newReplay(body)
	r.GetBody = func() (io.ReadCloser, error) { return newReplay(body), nil }
	if r.ContentLength < 0 {
		r.ContentLength = int64(len(body))
		r.TransferEncoding = nil
	}
}

// replay reads a body already in memory: io.NopCloser(bytes.NewReader)
// in one allocation instead of two (a cost measured per request).
type replay struct{ bytes.Reader }

func newReplay(body []byte) *replay {
	rp := new(replay)
	rp.Reset(body)
	return rp
}

// Close does nothing.
func (*replay) Close() error { return nil }

// MatchMediaType reports whether the media type mt (lowercase, without
// parameters) matches pattern: exact, "type/*", "type/*+suffix" or "*/*".
func MatchMediaType(pattern, mt string) bool {
	if pattern == "*/*" || pattern == mt {
		return true
	}
	pt, ps, ok := strings.Cut(pattern, "/")
	if !ok {
		return false
	}
	t, s, ok := strings.Cut(mt, "/")
	if !ok || t != pt {
		return false
	}
	if ps == "*" {
		return true
	}
	if suffix, ok := strings.CutPrefix(ps, "*+"); ok {
		return strings.HasSuffix(s, "+"+suffix)
	}
	return false
}

// isJSON reports whether a Content-Type value names JSON
// (application/json or a +json type).
func isJSON(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}
