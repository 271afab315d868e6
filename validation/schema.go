package validation

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"

	"github.com/apigw/caddy-apigw/problem"
)

// Schema is a compiled JSON Schema (draft 2020-12 unless the schema's
// $schema says otherwise). Formats are asserted (an "email" that is not an
// email fails) and unknown formats are a compile error, so a typo in a
// schema cannot silently disable a check.
type Schema struct {
	sch *jsonschema.Schema
	raw map[string]any
	// fast is the one-pass form of the schema (compiled.go), nil if the
	// schema uses keywords outside its subset.
	fast *cnode
}

// knownFormats are the formats jsonschema/v6 asserts.
var knownFormats = map[string]bool{
	"json-pointer": true, "relative-json-pointer": true, "uuid": true, "duration": true,
	"period": true, "ipv4": true, "ipv6": true, "hostname": true, "email": true,
	"date": true, "time": true, "date-time": true, "uri": true, "iri": true,
	"uri-reference": true, "iri-reference": true, "uri-template": true, "semver": true,
	"regex": true,
}

// CompileSchema compiles the JSON Schema document src. name identifies it
// in errors (a file path or "body_schema"). With strict, every object
// schema reachable through properties, items, additionalProperties and
// $defs that does not say otherwise rejects unknown properties
// ("unevaluatedProperties": false is added where neither
// additionalProperties nor unevaluatedProperties is set; subschemas of
// allOf/anyOf/oneOf are left alone, as the keyword would break them).
func CompileSchema(name string, src []byte, strict bool) (*Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(src))
	if err != nil {
		return nil, fmt.Errorf("%s is not valid JSON: %w", name, err)
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		if _, isBool := doc.(bool); !isBool {
			return nil, fmt.Errorf("%s must be a JSON object (a JSON Schema)", name)
		}
	}
	if err := checkFormats(doc, ""); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if strict {
		makeStrict(doc)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	// Never fetch $ref URLs over the network or from disk at runtime:
	// schemas must be self-contained.
	c.UseLoader(noLoader{})
	const url = "apigw:///schema.json"
	if err := c.AddResource(url, doc); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	sch, err := c.Compile(url)
	if err != nil {
		return nil, fmt.Errorf("%s is not a valid JSON Schema: %w", name, err)
	}
	return &Schema{sch: sch, raw: obj, fast: compileSubset(doc, true)}, nil
}

type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("external $ref %q is not allowed: inline it (use $defs)", url)
}

// makeStrict adds "unevaluatedProperties": false to object schemas
// (see CompileSchema).
func makeStrict(v any) {
	obj, ok := v.(map[string]any)
	if !ok {
		return
	}
	_, hasProps := obj["properties"]
	isObject := obj["type"] == "object" || hasProps
	_, ap := obj["additionalProperties"]
	_, up := obj["unevaluatedProperties"]
	_, pp := obj["patternProperties"]
	if isObject && !ap && !up && !pp {
		obj["unevaluatedProperties"] = false
	}
	for _, k := range []string{"properties", "$defs", "definitions"} {
		if m, ok := obj[k].(map[string]any); ok {
			for _, child := range m {
				makeStrict(child)
			}
		}
	}
	for _, k := range []string{"items", "additionalProperties", "unevaluatedProperties"} {
		makeStrict(obj[k])
	}
	if arr, ok := obj["prefixItems"].([]any); ok {
		for _, child := range arr {
			makeStrict(child)
		}
	}
}

// checkFormats rejects "format" keywords naming a format nobody asserts.
func checkFormats(v any, at string) error {
	switch v := v.(type) {
	case map[string]any:
		for k, child := range v {
			switch k {
			case "enum", "const", "default", "examples":
				continue
			case "format":
				if f, ok := child.(string); ok && !knownFormats[f] {
					known := make([]string, 0, len(knownFormats))
					for k := range knownFormats {
						known = append(known, k)
					}
					sort.Strings(known)
					return fmt.Errorf("unknown format %q at %s/format (known: %s)", f, at, strings.Join(known, ", "))
				}
				continue
			}
			if err := checkFormats(child, at+"/"+k); err != nil {
				return err
			}
		}
	case []any:
		for i, child := range v {
			if err := checkFormats(child, at+"/"+strconv.Itoa(i)); err != nil {
				return err
			}
		}
	}
	return nil
}

// Validate checks v (as ParseJSON returns it) and returns one field error
// per failed rule, with fields as JSON pointers prefixed by prefix (""
// for a body, "query" or "header" for parameters). It returns nil if v
// is valid.
func (s *Schema) Validate(v any, prefix string) []problem.FieldError {
	err := s.sch.Validate(v)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return []problem.FieldError{{Field: prefix, Rule: "schema", Message: "the value does not match the schema"}}
	}
	var out []problem.FieldError
	collect(ve, prefix, &out)
	if len(out) == 0 {
		out = append(out, problem.FieldError{Field: prefix, Rule: "schema", Message: "the value does not match the schema"})
	}
	return out
}

// maxFieldErrors caps how many field errors one rejection lists.
const maxFieldErrors = 20

// collect flattens ve to its leaf errors.
func collect(ve *jsonschema.ValidationError, prefix string, out *[]problem.FieldError) {
	if len(*out) >= maxFieldErrors {
		return
	}
	if len(ve.Causes) > 0 {
		// Group kinds (allOf/anyOf/oneOf, $ref) and the root only wrap.
		for _, c := range ve.Causes {
			collect(c, prefix, out)
		}
		return
	}
	*out = append(*out, describe(ve, prefix)...)
}

func field(prefix string, loc []string, extra ...string) string {
	segs := loc
	if len(extra) > 0 {
		segs = append(append([]string(nil), loc...), extra...)
	}
	if prefix == "" {
		return Pointer(segs)
	}
	if len(segs) == 0 {
		return prefix
	}
	// "query/page", "header/X-Foo": the first segment follows a slash.
	return prefix + Pointer(segs)
}

// describe turns one leaf error into field errors whose messages state
// the rule, never the value that broke it.
func describe(ve *jsonschema.ValidationError, prefix string) []problem.FieldError {
	at := ve.InstanceLocation
	one := func(rule, msg string) []problem.FieldError {
		return []problem.FieldError{{Field: field(prefix, at), Rule: rule, Message: msg}}
	}
	// each is one field error per named member of the object at at
	each := func(names []string, rule, msg string) []problem.FieldError {
		out := make([]problem.FieldError, 0, len(names))
		for _, n := range names {
			out = append(out, problem.FieldError{Field: field(prefix, at, n), Rule: rule, Message: msg})
		}
		return out
	}
	switch k := ve.ErrorKind.(type) {
	case *kind.Required:
		return each(k.Missing, "required", "is required")
	case *kind.AdditionalProperties:
		return each(k.Properties, "additionalProperties", "is not an allowed field")
	case *kind.Type:
		return one("type", "must be of type "+strings.Join(k.Want, " or "))
	case *kind.Enum:
		return one("enum", "must be one of the allowed values"+listPrimitives(k.Want))
	case *kind.Const:
		return one("const", "must equal the required value")
	case *kind.Format:
		return one("format", "must be a valid "+k.Want)
	case *kind.MinLength:
		return one("minLength", "must be at least "+strconv.Itoa(k.Want)+" characters long")
	case *kind.MaxLength:
		return one("maxLength", "must be at most "+strconv.Itoa(k.Want)+" characters long")
	case *kind.Pattern:
		return one("pattern", "does not match the required pattern")
	case *kind.Minimum:
		return one("minimum", "must be >= "+ratString(k.Want))
	case *kind.Maximum:
		return one("maximum", "must be <= "+ratString(k.Want))
	case *kind.ExclusiveMinimum:
		return one("exclusiveMinimum", "must be > "+ratString(k.Want))
	case *kind.ExclusiveMaximum:
		return one("exclusiveMaximum", "must be < "+ratString(k.Want))
	case *kind.MultipleOf:
		return one("multipleOf", "must be a multiple of "+ratString(k.Want))
	case *kind.MinItems:
		return one("minItems", "must have at least "+strconv.Itoa(k.Want)+" items")
	case *kind.MaxItems:
		return one("maxItems", "must have at most "+strconv.Itoa(k.Want)+" items")
	case *kind.UniqueItems:
		return one("uniqueItems", "items must be unique")
	case *kind.MinProperties:
		return one("minProperties", "must have at least "+strconv.Itoa(k.Want)+" properties")
	case *kind.MaxProperties:
		return one("maxProperties", "must have at most "+strconv.Itoa(k.Want)+" properties")
	case *kind.DependentRequired:
		return each(k.Missing, "dependentRequired", "is required when another field is present")
	case *kind.FalseSchema:
		switch {
		case strings.HasSuffix(ve.SchemaURL, "/unevaluatedProperties"), strings.HasSuffix(ve.SchemaURL, "/additionalProperties"):
			return one("additionalProperties", "is not an allowed field")
		case strings.HasSuffix(ve.SchemaURL, "/unevaluatedItems"), strings.HasSuffix(ve.SchemaURL, "/items"):
			return one("additionalItems", "is not an allowed item")
		}
		return one("false", "is not allowed")
	case *kind.PropertyNames:
		return []problem.FieldError{{Field: field(prefix, at, k.Property), Rule: "propertyNames", Message: "is not an allowed property name"}}
	case *kind.Contains, *kind.MinContains, *kind.MaxContains:
		return one("contains", "does not contain the required items")
	case *kind.Not:
		return one("not", "matches a forbidden schema")
	case *kind.OneOf:
		return one("oneOf", "must match exactly one of the allowed schemas")
	case *kind.AnyOf:
		return one("anyOf", "must match at least one of the allowed schemas")
	}
	rule := "schema"
	if kp := ve.ErrorKind.KeywordPath(); len(kp) > 0 {
		rule = kp[0]
	}
	return one(rule, "does not satisfy the rule")
}

// listPrimitives renders a short list of allowed enum values (schema
// text, never client input), or nothing if they are not short strings or
// numbers.
func listPrimitives(want []any) string {
	if len(want) > 10 {
		return ""
	}
	parts := make([]string, 0, len(want))
	for _, w := range want {
		switch w := w.(type) {
		case string:
			if len(w) > 40 {
				return ""
			}
			parts = append(parts, strconv.Quote(w))
		case fmt.Stringer:
			parts = append(parts, w.String())
		case bool:
			parts = append(parts, strconv.FormatBool(w))
		default:
			return ""
		}
	}
	return ": " + strings.Join(parts, ", ")
}

func ratString(r interface{ FloatString(int) string }) string {
	s := r.FloatString(6)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}
