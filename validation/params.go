package validation

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/apigw/caddy-apigw/problem"
)

// ParamSchema validates string parameters (a query string or headers)
// with a JSON Schema over an object of them. Each parameter's string is
// coerced to the type its property declares ("integer", "number",
// "boolean"; "array" collects every occurrence), so
// {"page": {"type": "integer", "minimum": 1}} checks ?page=2. A value
// that does not convert stays a string and fails the type rule.
// Properties with a "default" get it when absent.
type ParamSchema struct {
	schema *Schema
	// where is "query" or "header": the prefix of error fields.
	where string
	props map[string]paramProp
	// names lists the properties in a stable order.
	names []string
	// defaults holds the encoded default of each property that has one.
	defaults []paramDefault
}

type paramProp struct {
	name      string // as written in the schema
	types     []string
	itemTypes []string
}

type paramDefault struct {
	name    string
	value   any      // JSON value
	encoded []string // as query values
}

// CompileParamSchema compiles a schema for parameters found in where
// ("query" or "header"). The schema must be an object schema; its
// top-level properties name the parameters (header names match
// case-insensitively).
func CompileParamSchema(name, where string, src []byte, strict bool) (*ParamSchema, error) {
	s, err := CompileSchema(name, src, strict)
	if err != nil {
		return nil, err
	}
	if s.raw == nil {
		return nil, fmt.Errorf("%s must be an object schema with \"properties\"", name)
	}
	if t, ok := s.raw["type"]; ok && t != "object" {
		return nil, fmt.Errorf("%s must have \"type\": \"object\" (parameters form an object)", name)
	}
	ps := &ParamSchema{schema: s, where: where, props: map[string]paramProp{}}
	props, _ := s.raw["properties"].(map[string]any)
	for pname, raw := range props {
		def, _ := raw.(map[string]any)
		p := paramProp{name: pname, types: typesOf(def)}
		if items, ok := def["items"].(map[string]any); ok {
			p.itemTypes = typesOf(items)
		}
		key := pname
		if where == "header" {
			key = http.CanonicalHeaderKey(pname)
		}
		ps.props[key] = p
		ps.names = append(ps.names, key)
		if dv, ok := def["default"]; ok {
			enc, err := encodeDefault(dv)
			if err != nil {
				return nil, fmt.Errorf("%s: default of %q: %w", name, pname, err)
			}
			ps.defaults = append(ps.defaults, paramDefault{name: pname, value: dv, encoded: enc})
		}
	}
	sort.Strings(ps.names)
	sort.Slice(ps.defaults, func(i, j int) bool { return ps.defaults[i].name < ps.defaults[j].name })
	return ps, nil
}

// typesOf returns the "type" of a schema (string or array), or, for an
// enum of one primitive kind, that kind.
func typesOf(def map[string]any) []string {
	switch t := def["type"].(type) {
	case string:
		return []string{t}
	case []any:
		out := make([]string, 0, len(t))
		for _, x := range t {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	if enum, ok := def["enum"].([]any); ok && len(enum) > 0 {
		allNum := true
		for _, e := range enum {
			if _, ok := e.(json.Number); !ok {
				allNum = false
			}
		}
		if allNum {
			return []string{"number"}
		}
	}
	return nil
}

func encodeDefault(v any) ([]string, error) {
	switch v := v.(type) {
	case string:
		return []string{v}, nil
	case json.Number:
		return []string{v.String()}, nil
	case bool:
		return []string{strconv.FormatBool(v)}, nil
	case []any:
		out := make([]string, 0, len(v))
		for _, x := range v {
			enc, err := encodeDefault(x)
			if err != nil || len(enc) != 1 {
				return nil, fmt.Errorf("array defaults may only hold strings, numbers and booleans")
			}
			out = append(out, enc[0])
		}
		return out, nil
	}
	return nil, fmt.Errorf("a parameter default must be a string, number, boolean or array of those")
}

func has(types []string, t string) bool {
	for _, x := range types {
		if x == t {
			return true
		}
	}
	return false
}

// coerce converts a parameter string to the JSON value its declared
// types call for; a string that does not convert is returned unchanged so
// that the schema reports the type error.
func coerce(s string, types []string) any {
	if len(types) == 0 || has(types, "string") {
		return s
	}
	if has(types, "number") {
		// beyond numberInRange the exact checks would cost too much: it
		// stays a string and fails the type
		if isJSONNumber(s) && numberInRange([]byte(s)) {
			return json.Number(s)
		}
	} else if has(types, "integer") {
		// Only plain decimal digits: "1e1" and "10.0" are integers to
		// JSON Schema, but an upstream parsing the raw string (parseInt,
		// strconv.Atoi) would read another value or fail.
		if isDecimalInteger(s) {
			return json.Number(s)
		}
	}
	if has(types, "boolean") {
		switch s {
		case "true":
			return true
		case "false":
			return false
		}
	}
	if has(types, "null") && s == "" {
		return nil
	}
	return s
}

// isDecimalInteger reports whether s is an integer in plain decimal JSON
// syntax: an optional "-", then "0" or digits without a leading zero.
func isDecimalInteger(s string) bool {
	if strings.HasPrefix(s, "-") {
		s = s[1:]
	}
	if s == "" || len(s) > 64 || (s[0] == '0' && len(s) > 1) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isJSONNumber reports whether s is a number in JSON syntax (no "+1",
// "0x10", " 1", "NaN" or "Inf").
func isJSONNumber(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	sc := scanner{data: []byte(s)}
	lit, ok := sc.number()
	return ok && numberInRange(lit) && sc.pos == len(s)
}

// ValidateQuery checks q against the schema: every key must be a
// declared property if the schema has "additionalProperties": false;
// repeated keys are rejected unless the property is an array; absent
// properties with a default get it. It returns the names and encoded
// values of the defaults applied (which the caller may add to the
// upstream query) and the field errors.
func (ps *ParamSchema) ValidateQuery(q url.Values, lim Limits) (applied [][2]string, errs []problem.FieldError) {
	obj := make(map[string]any, len(q)+len(ps.defaults))
	for _, k := range slices.Sorted(maps.Keys(q)) {
		vals := q[k]
		if fe, bad := checkParamName(k, lim); bad {
			errs = append(errs, problem.FieldError{Field: "query" + Pointer([]string{k}), Rule: fe.Rule, Message: fe.Message})
			continue
		}
		if lim.RejectControlChars {
			for _, v := range vals {
				if HasControlChars(v) {
					errs = append(errs, problem.FieldError{Field: "query" + Pointer([]string{k}), Rule: "controlChars", Message: "the value contains control characters"})
					break
				}
			}
		}
		p, declared := ps.props[k]
		if !declared {
			obj[k] = vals[0]
			continue
		}
		if has(p.types, "array") {
			arr := make([]any, len(vals))
			for i, v := range vals {
				arr[i] = coerce(v, p.itemTypes)
			}
			obj[k] = arr
			continue
		}
		if len(vals) > 1 {
			errs = append(errs, problem.FieldError{Field: "query" + Pointer([]string{k}), Rule: "duplicate", Message: "the parameter may be given only once"})
			continue
		}
		obj[k] = coerce(vals[0], p.types)
	}
	for _, d := range ps.defaults {
		if _, ok := q[d.name]; ok {
			continue
		}
		obj[d.name] = d.value
		for _, e := range d.encoded {
			applied = append(applied, [2]string{d.name, e})
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	if fes := ps.schema.Validate(obj, "query"); len(fes) > 0 {
		return nil, fes
	}
	return applied, nil
}

// ValidateHeaders checks the declared headers of h against the schema
// (undeclared headers are not part of the object, so "additionalProperties"
// does not apply to them). Header defaults are not applied.
func (ps *ParamSchema) ValidateHeaders(h http.Header, lim Limits) []problem.FieldError {
	obj := make(map[string]any, len(ps.props))
	var errs []problem.FieldError
	for _, key := range ps.names {
		p := ps.props[key]
		vals := h[key]
		if len(vals) == 0 {
			continue
		}
		if lim.RejectControlChars {
			for _, v := range vals {
				if HasControlChars(v) {
					errs = append(errs, problem.FieldError{Field: "header/" + key, Rule: "controlChars", Message: "the value contains control characters"})
					break
				}
			}
		}
		switch {
		case has(p.types, "array"):
			arr := make([]any, 0, len(vals))
			for _, v := range vals {
				for _, part := range strings.Split(v, ",") {
					arr = append(arr, coerce(strings.TrimSpace(part), p.itemTypes))
				}
			}
			obj[p.name] = arr
		case len(vals) > 1:
			errs = append(errs, problem.FieldError{Field: "header/" + key, Rule: "duplicate", Message: "the header may be given only once"})
		default:
			obj[p.name] = coerce(vals[0], p.types)
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return ps.schema.Validate(obj, "header")
}

// checkParamName applies the NoSQL operator rules to a query key, also in
// the bracket syntax of Express's qs parser (filter[$ne]=x, a[b.c]=1).
func checkParamName(k string, lim Limits) (problem.FieldError, bool) {
	if lim.RejectControlChars && HasControlChars(k) {
		return problem.FieldError{Rule: "controlChars", Message: "the parameter name contains control characters"}, true
	}
	if lim.RejectDollarKeys && (strings.HasPrefix(k, "$") || strings.Contains(k, "[$")) {
		return problem.FieldError{Rule: "dollarKey", Message: "parameter names starting with '$' are not allowed"}, true
	}
	if lim.RejectDottedKeys && strings.Contains(k, ".") {
		return problem.FieldError{Rule: "dottedKey", Message: "parameter names containing '.' are not allowed"}, true
	}
	return problem.FieldError{}, false
}
