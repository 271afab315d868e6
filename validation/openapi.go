package validation

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/apigw/caddy-apigw/failure"
	"github.com/apigw/caddy-apigw/problem"
)

// OpenAPI validates requests against an OpenAPI 3 document with
// kin-openapi's openapi3filter: the operation is found by path and
// method, then its parameters (path, query, header, cookie) and request
// body are checked. The document is loaded and validated once.
//
// Servers in the document are reduced to their path (a base path such as
// /v1 still applies; the gateway's host name does not need to match).
// Defaults declared in the document are not written into the request:
// the body is handed on byte-identical. Security requirements are left to
// the gateway's auth directives.
type OpenAPI struct {
	doc    *openapi3.T
	router routers.Router
}

// LoadOpenAPI loads, resolves and validates the OpenAPI document at path
// (JSON or YAML). External references are resolved relative to the file
// only (never over the network).
func LoadOpenAPI(path string) (*OpenAPI, error) {
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = true
	loader.ReadFromURIFunc = func(l *openapi3.Loader, u *url.URL) ([]byte, error) {
		if u.Scheme != "" && u.Scheme != "file" {
			return nil, fmt.Errorf("remote reference %s is not allowed: use a local file", u.Redacted())
		}
		return openapi3.ReadFromFile(l, u)
	}
	doc, err := loader.LoadFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("loading OpenAPI document %s: %w", path, err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("OpenAPI document %s is invalid: %w", path, err)
	}
	servers := make(openapi3.Servers, 0, len(doc.Servers))
	for _, s := range doc.Servers {
		p := s.URL
		if u, err := url.Parse(s.URL); err == nil && !strings.Contains(s.URL, "{") {
			p = u.Path
		}
		if p == "" || p == "/" || strings.Contains(p, "{") {
			servers = nil
			break
		}
		servers = append(servers, &openapi3.Server{URL: p})
	}
	doc.Servers = servers
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("OpenAPI document %s: building the router: %w", path, err)
	}
	return &OpenAPI{doc: doc, router: router}, nil
}

// Validate checks r, whose body (already read, bounded) is body. It
// returns nil, or a failure: 404 for a path the document does not
// declare, 405 for an undeclared method, 415 for an undeclared content
// type, else 400 validation_failed with field errors. r.Body is left
// reading body from the start.
func (o *OpenAPI) Validate(ctx context.Context, r *http.Request, body []byte) error {
	route, pathParams, err := o.router.FindRoute(r)
	if err != nil {
		switch {
		case errors.Is(err, routers.ErrMethodNotAllowed):
			return failure.New(failure.ErrMethodNotAllowed, "the API does not define this method for this path")
		default:
			return failure.New(failure.ErrNotFound, "the API does not define this path")
		}
	}
	in := &openapi3filter.RequestValidationInput{
		Request:    r,
		PathParams: pathParams,
		Route:      route,
		Options: &openapi3filter.Options{
			MultiError:          true,
			AuthenticationFunc:  openapi3filter.NoopAuthenticationFunc,
			SkipSettingDefaults: true,
		},
	}
	err = openapi3filter.ValidateRequest(ctx, in)
	if err == nil {
		return nil
	}
	var fes []problem.FieldError
	unsupported := false
	flattenOpenAPIError(err, &fes, &unsupported)
	if unsupported {
		return failure.New(failure.ErrUnsupportedMediaType, "the API does not accept this content type here")
	}
	if len(fes) > maxFieldErrors {
		fes = fes[:maxFieldErrors]
	}
	return Failed("the request does not match the API description", fes...)
}

func flattenOpenAPIError(err error, out *[]problem.FieldError, unsupported *bool) {
	var me openapi3.MultiError
	if errors.As(err, &me) && !isRequestError(err) {
		for _, e := range me {
			flattenOpenAPIError(e, out, unsupported)
		}
		return
	}
	var re *openapi3filter.RequestError
	if !errors.As(err, &re) {
		*out = append(*out, problem.FieldError{Field: "", Rule: "invalid", Message: "the request is invalid"})
		return
	}
	where := "body"
	switch {
	case re.Parameter != nil:
		where = re.Parameter.In + "/" + re.Parameter.Name
	case re.RequestBody == nil && re.Parameter == nil:
		where = ""
	}
	if strings.HasPrefix(re.Reason, "header Content-Type has unexpected value") || strings.HasPrefix(re.Reason, "unsupported content type") {
		*unsupported = true
		return
	}
	if errors.Is(re.Err, openapi3filter.ErrInvalidRequired) || re.Reason == openapi3filter.ErrInvalidRequired.Error() {
		*out = append(*out, problem.FieldError{Field: where, Rule: "required", Message: "is required"})
		return
	}
	if errors.Is(re.Err, openapi3filter.ErrInvalidEmptyValue) {
		*out = append(*out, problem.FieldError{Field: where, Rule: "required", Message: "must not be empty"})
		return
	}
	var ses []*openapi3.SchemaError
	collectSchemaErrors(re.Err, &ses)
	if len(ses) == 0 {
		var pe *openapi3filter.ParseError
		if errors.As(re.Err, &pe) {
			*out = append(*out, problem.FieldError{Field: where, Rule: "type", Message: "could not be parsed as the declared type"})
			return
		}
		*out = append(*out, problem.FieldError{Field: where, Rule: "invalid", Message: "is invalid"})
		return
	}
	for _, se := range ses {
		ptr := se.JSONPointer()
		rule := se.SchemaField
		// kin-openapi names the property of "required" and unknown-field
		// errors only in its reason: `property "x" is missing`.
		if prop, ok := reasonProperty(se.Reason); ok {
			switch {
			case rule == "properties":
				ptr = append(ptr, prop)
				rule = "additionalProperties"
			case len(ptr) == 0 || ptr[len(ptr)-1] != prop:
				// kin-openapi puts the missing property of "required"
				// in the pointer already; add it where it does not.
				ptr = append(ptr, prop)
			}
		}
		f := where
		if re.RequestBody != nil {
			f = Pointer(ptr)
		} else if len(ptr) > 0 {
			f = where + Pointer(ptr)
		}
		se.SchemaField = rule
		*out = append(*out, problem.FieldError{Field: f, Rule: rule, Message: schemaFieldMessage(se)})
	}
}

// reasonProperty extracts x from a kin-openapi reason `property "x" ...`.
func reasonProperty(reason string) (string, bool) {
	rest, ok := strings.CutPrefix(reason, "property ")
	if !ok || !strings.HasPrefix(rest, `"`) {
		return "", false
	}
	end := strings.Index(rest, `" is `)
	if end < 0 {
		return "", false
	}
	name, err := strconv.Unquote(rest[:end+1])
	if err != nil {
		return "", false
	}
	return name, true
}

func isRequestError(err error) bool {
	_, ok := err.(*openapi3filter.RequestError)
	return ok
}

func collectSchemaErrors(err error, out *[]*openapi3.SchemaError) {
	if err == nil {
		return
	}
	var me openapi3.MultiError
	if m, ok := err.(openapi3.MultiError); ok {
		me = m
	}
	if me != nil {
		for _, e := range me {
			collectSchemaErrors(e, out)
		}
		return
	}
	var se *openapi3.SchemaError
	if errors.As(err, &se) {
		*out = append(*out, se)
	}
}

// schemaFieldMessage states the failed rule of se without its value.
func schemaFieldMessage(se *openapi3.SchemaError) string {
	s := se.Schema
	switch se.SchemaField {
	case "required":
		return "is required"
	case "type":
		if s != nil && s.Type != nil {
			return "must be of type " + strings.Join(s.Type.Slice(), " or ")
		}
		return "has the wrong type"
	case "enum":
		return "must be one of the allowed values"
	case "format":
		if s != nil {
			return "must be a valid " + s.Format
		}
	case "minLength":
		if s != nil {
			return fmt.Sprintf("must be at least %d characters long", s.MinLength)
		}
	case "maxLength":
		if s != nil && s.MaxLength != nil {
			return fmt.Sprintf("must be at most %d characters long", *s.MaxLength)
		}
	case "minimum":
		if s != nil && s.Min != nil {
			return fmt.Sprintf("must be >= %v", *s.Min)
		}
	case "maximum":
		if s != nil && s.Max != nil {
			return fmt.Sprintf("must be <= %v", *s.Max)
		}
	case "additionalProperties":
		return "is not an allowed field"
	case "pattern":
		return "does not match the required pattern"
	}
	return "does not satisfy " + se.SchemaField
}
