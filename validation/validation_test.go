package validation

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apigw/caddy-apigw/problem"
)

const usersSchema = `{
	"type": "object",
	"required": ["email", "name"],
	"properties": {
		"email": {"type": "string", "format": "email", "maxLength": 255},
		"name": {"type": "string", "minLength": 1, "maxLength": 100},
		"age": {"type": "integer", "minimum": 0, "maximum": 150}
	},
	"additionalProperties": false
}`

const pagingSchema = `{
	"type": "object",
	"properties": {
		"page": {"type": "integer", "minimum": 1, "default": 1},
		"limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
		"sort": {"enum": ["asc", "desc"], "default": "desc"}
	},
	"additionalProperties": false
}`

func TestParseJSON(t *testing.T) {
	lim := DefaultLimits
	lim.MaxDepth = 4
	lim.MaxKeys = 3
	for _, tc := range []struct {
		name, in    string
		lim         Limits
		field, rule string // empty: valid
	}{
		{name: "object", in: `{"a":1,"b":[true,null,"x"]}`, lim: lim},
		{name: "escapes", in: `{"a":"\u00e9\ud83d\ude00\n\"\/"}`, lim: lim},
		{name: "duplicate key", in: `{"a":1,"a":2}`, lim: lim, field: "/a", rule: "duplicateKey"},
		{name: "duplicate escaped key", in: `{"a":1,"\u0061":2}`, lim: lim, field: "/a", rule: "duplicateKey"},
		{name: "nested duplicate", in: `{"x":{"b":1,"b":1}}`, lim: lim, field: "/x/b", rule: "duplicateKey"},
		{name: "dollar key", in: `{"name":{"$where":"1"}}`, lim: lim, field: "/name/$where", rule: "dollarKey"},
		{name: "escaped dollar key", in: `{"\u0024where":"1"}`, lim: lim, field: "/$where", rule: "dollarKey"},
		{name: "dollar key allowed", in: `{"$ref":1}`, lim: Limits{}},
		{name: "dotted key off", in: `{"a.b":1}`, lim: lim},
		{name: "dotted key on", in: `{"a.b":1}`, lim: Limits{RejectDottedKeys: true}, field: "/a.b", rule: "dottedKey"},
		{name: "depth ok", in: `[[[[1]]]]`, lim: lim},
		{name: "depth bomb", in: strings.Repeat("[", 100000) + strings.Repeat("]", 100000), lim: lim, field: "/0/0/0/0", rule: "maxDepth"},
		{name: "too many keys", in: `{"a":1,"b":2,"c":3,"d":4}`, lim: lim, field: "", rule: "maxKeys"},
		{name: "too many items", in: `[1,2,3,4]`, lim: lim, field: "", rule: "maxItems"},
		{name: "NUL escaped", in: `{"a":"x\u0000y"}`, lim: lim, field: "/a", rule: "controlChars"},
		{name: "C1 control", in: `{"a":"x\u0085"}`, lim: lim, field: "/a", rule: "controlChars"},
		{name: "newline allowed", in: `{"a":"x\ny"}`, lim: lim},
		{name: "control in key", in: `{"a\u0001":1}`, lim: lim, field: "", rule: "controlChars"},
		{name: "NUL allowed when off", in: `{"a":"\u0000"}`, lim: Limits{}},
		{name: "raw control char", in: "{\"a\":\"\x01\"}", lim: Limits{}, field: "/a", rule: "syntax"},
		{name: "invalid utf8", in: "{\"a\":\"\xff\"}", lim: lim, field: "/a", rule: "encoding"},
		{name: "lone surrogate", in: `{"a":"\ud800"}`, lim: lim, field: "/a", rule: "encoding"},
		{name: "trailing data", in: `{} {}`, lim: lim, field: "", rule: "syntax"},
		{name: "truncated", in: `{"a":`, lim: lim, field: "/a", rule: "syntax"},
		{name: "bad number", in: `[01]`, lim: lim, field: "", rule: "syntax"},
		{name: "bad literal", in: `[tru]`, lim: lim, field: "/0", rule: "syntax"},
		{name: "empty", in: ``, lim: lim, field: "", rule: "syntax"},
		{name: "pointer escaping", in: `{"a/b~":{"$x":1}}`, lim: lim, field: "/a~1b~0/$x", rule: "dollarKey"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errs := ParseJSON([]byte(tc.in), tc.lim)
			if tc.rule == "" {
				if len(errs) != 0 {
					t.Fatalf("got errors %+v, want none", errs)
				}
				return
			}
			if len(errs) != 1 || errs[0].Field != tc.field || errs[0].Rule != tc.rule {
				t.Fatalf("got %+v, want field %q rule %q", errs, tc.field, tc.rule)
			}
			if tc.in != "" && strings.Contains(errs[0].Message, tc.in) {
				t.Fatalf("message echoes input: %q", errs[0].Message)
			}
		})
	}
}

func TestParseJSONMatchesEncodingJSON(t *testing.T) {
	in := `{"a":[1,2.5e3,-0.1,"s\t\u00fc"],"b":{"c":null,"d":false}}`
	v, errs := ParseJSON([]byte(in), DefaultLimits)
	if errs != nil {
		t.Fatal(errs)
	}
	obj := v.(map[string]any)
	arr := obj["a"].([]any)
	if len(arr) != 4 || arr[1].(interface{ String() string }).String() != "2.5e3" || arr[3] != "s\tü" {
		t.Fatalf("unexpected decode: %#v", v)
	}
}

func TestCompileSchemaErrors(t *testing.T) {
	for _, tc := range []struct {
		name, src, want string
	}{
		{"not json", `{`, "not valid JSON"},
		{"not an object", `[1]`, "must be a JSON object"},
		{"unknown format", `{"properties":{"a":{"format":"emial"}}}`, `unknown format "emial"`},
		{"bad type", `{"type":"strnig"}`, "not a valid JSON Schema"},
		{"external ref", `{"$ref":"https://example.com/s.json"}`, "not allowed"},
		{"bad regex", `{"pattern":"("}`, "not a valid JSON Schema"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CompileSchema("body_schema", []byte(tc.src), false)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want error containing %q", err, tc.want)
			}
		})
	}
}

func TestBodySchema(t *testing.T) {
	s, err := CompileSchema("body_schema", []byte(usersSchema), false)
	if err != nil {
		t.Fatal(err)
	}
	type fe = problem.FieldError
	for _, tc := range []struct {
		name, body string
		want       []fe // field+rule
	}{
		{"valid", `{"email":"a@example.com","name":"A","age":30}`, nil},
		{"missing both", `{}`, []fe{{Field: "/email", Rule: "required"}, {Field: "/name", Rule: "required"}}},
		{"bad email", `{"email":"<script>alert(1)</script>","name":"A"}`, []fe{{Field: "/email", Rule: "format"}}},
		{"unknown key", `{"email":"a@example.com","name":"A","admin":true}`, []fe{{Field: "/admin", Rule: "additionalProperties"}}},
		{"age type", `{"email":"a@example.com","name":"A","age":"old"}`, []fe{{Field: "/age", Rule: "type"}}},
		{"age float", `{"email":"a@example.com","name":"A","age":1.5}`, []fe{{Field: "/age", Rule: "type"}}},
		{"age range", `{"email":"a@example.com","name":"A","age":151}`, []fe{{Field: "/age", Rule: "maximum"}}},
		{"name empty", `{"email":"a@example.com","name":""}`, []fe{{Field: "/name", Rule: "minLength"}}},
		{"name long", `{"email":"a@example.com","name":"` + strings.Repeat("n", 101) + `"}`, []fe{{Field: "/name", Rule: "maxLength"}}},
		{"not object", `[1]`, []fe{{Field: "", Rule: "type"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, perr := ParseJSON([]byte(tc.body), DefaultLimits)
			if perr != nil {
				t.Fatal(perr)
			}
			got := s.Validate(v, "")
			if len(got) != len(tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			for _, w := range tc.want {
				found := false
				for _, g := range got {
					if g.Field == w.Field && g.Rule == w.Rule {
						found = true
					}
					if strings.Contains(g.Message, "script") || strings.Contains(g.Message, "old") {
						t.Fatalf("message echoes input: %q", g.Message)
					}
				}
				if !found {
					t.Fatalf("missing %+v in %+v", w, got)
				}
			}
		})
	}
}

func TestStrictSchema(t *testing.T) {
	src := `{"type":"object","properties":{"a":{"type":"object","properties":{"b":{"type":"string"}}}}}`
	for _, tc := range []struct {
		name   string
		strict bool
		body   string
		field  string
	}{
		{"lenient top", false, `{"x":1}`, ""},
		{"strict top", true, `{"x":1}`, "/x"},
		{"strict nested", true, `{"a":{"b":"s","y":1}}`, "/a/y"},
		{"strict valid", true, `{"a":{"b":"s"}}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := CompileSchema("body_schema", []byte(src), tc.strict)
			if err != nil {
				t.Fatal(err)
			}
			v, _ := ParseJSON([]byte(tc.body), DefaultLimits)
			got := s.Validate(v, "")
			if tc.field == "" {
				if got != nil {
					t.Fatalf("got %+v, want valid", got)
				}
				return
			}
			if len(got) != 1 || got[0].Field != tc.field || got[0].Rule != "additionalProperties" {
				t.Fatalf("got %+v, want unknown field %s", got, tc.field)
			}
		})
	}
}

func TestQuerySchema(t *testing.T) {
	ps, err := CompileParamSchema("query_schema", "query", []byte(pagingSchema), false)
	if err != nil {
		t.Fatal(err)
	}
	v := New(Config{Query: ps, Limits: DefaultLimits, QueryDefaults: true})
	for _, tc := range []struct {
		name, query string
		wantQuery   string
		field, rule string
	}{
		{name: "defaults added", query: "", wantQuery: "limit=20&page=1&sort=desc"},
		{name: "partial defaults", query: "page=3", wantQuery: "page=3&limit=20&sort=desc"},
		{name: "all given", query: "page=2&limit=100&sort=asc", wantQuery: "page=2&limit=100&sort=asc"},
		{name: "page zero", query: "page=0", field: "query/page", rule: "minimum"},
		{name: "page not int", query: "page=abc", field: "query/page", rule: "type"},
		{name: "page float", query: "page=1.5", field: "query/page", rule: "type"},
		{name: "page plus sign", query: "page=%2B1", field: "query/page", rule: "type"},
		{name: "limit exponent", query: "limit=1e1", field: "query/limit", rule: "type"},
		{name: "page integral float", query: "page=1.0", field: "query/page", rule: "type"},
		{name: "page leading zero", query: "page=01", field: "query/page", rule: "type"},
		{name: "page negative", query: "page=-3", field: "query/page", rule: "minimum"},
		{name: "largest limit", query: "limit=100", wantQuery: "limit=100&page=1&sort=desc"},
		{name: "limit too big", query: "limit=101", field: "query/limit", rule: "maximum"},
		{name: "bad sort", query: "sort=random", field: "query/sort", rule: "enum"},
		{name: "unknown param", query: "foo=1", field: "query/foo", rule: "additionalProperties"},
		{name: "repeated param", query: "page=1&page=2", field: "query/page", rule: "duplicate"},
		{name: "operator key", query: "page[$ne]=1", field: "query/page[$ne]", rule: "dollarKey"},
		{name: "dollar key", query: "$where=1", field: "query/$where", rule: "dollarKey"},
		{name: "encoded dollar key", query: "%24where=1", field: "query/$where", rule: "dollarKey"},
		{name: "NUL value", query: "sort=asc%00", field: "query/sort", rule: "controlChars"},
		{name: "malformed", query: "a=%zz", field: "query", rule: "syntax"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/users?"+tc.query, nil)
			p := asProblem(v.Validate(r, new(bytes.Buffer)))
			if tc.rule == "" {
				if p != nil {
					t.Fatalf("got %+v, want valid", p)
				}
				if r.URL.RawQuery != tc.wantQuery {
					t.Fatalf("query %q, want %q", r.URL.RawQuery, tc.wantQuery)
				}
				return
			}
			if p == nil || p.Status != 400 || p.Code != problem.CodeValidationFailed || len(p.Errors) != 1 ||
				p.Errors[0].Field != tc.field || p.Errors[0].Rule != tc.rule {
				t.Fatalf("got %+v, want field %q rule %q", p, tc.field, tc.rule)
			}
		})
	}
}

func TestHeaderSchema(t *testing.T) {
	ps, err := CompileParamSchema("header_schema", "header", []byte(`{"type":"object","required":["x-tenant"],
		"properties":{"x-tenant":{"type":"string","pattern":"^[a-z]+$"},"x-count":{"type":"integer"}}}`), false)
	if err != nil {
		t.Fatal(err)
	}
	v := New(Config{Header: ps, Limits: DefaultLimits})
	for _, tc := range []struct {
		name        string
		hdr         map[string]string
		field, rule string
	}{
		{"valid", map[string]string{"X-Tenant": "acme", "X-Count": "3", "Other": "x"}, "", ""},
		{"missing", map[string]string{}, "header/x-tenant", "required"},
		{"pattern", map[string]string{"X-Tenant": "ACME"}, "header/x-tenant", "pattern"},
		{"type", map[string]string{"X-Tenant": "a", "X-Count": "three"}, "header/x-count", "type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			for k, val := range tc.hdr {
				r.Header.Set(k, val)
			}
			p := asProblem(v.Validate(r, new(bytes.Buffer)))
			if tc.rule == "" {
				if p != nil {
					t.Fatalf("got %+v", p)
				}
				return
			}
			if p == nil || len(p.Errors) != 1 || p.Errors[0].Field != tc.field || p.Errors[0].Rule != tc.rule {
				t.Fatalf("got %+v, want %s %s", p, tc.field, tc.rule)
			}
		})
	}
}

func TestValidateBody(t *testing.T) {
	s, err := CompileSchema("body_schema", []byte(usersSchema), true)
	if err != nil {
		t.Fatal(err)
	}
	v := New(Config{MaxBody: 64, Body: s, ContentTypes: []string{"application/json"}, Limits: DefaultLimits})
	valid := `{"email":"a@example.com","name":"A"}`
	for _, tc := range []struct {
		name, ct, body string
		chunked        bool
		status         int
		code           string
	}{
		{name: "valid", ct: "application/json", body: valid, status: 0},
		{name: "valid charset", ct: "application/json; charset=UTF-8", body: valid, status: 0},
		{name: "valid chunked", ct: "application/json", body: valid, chunked: true, status: 0},
		{name: "too large", ct: "application/json", body: strings.Repeat(" ", 65) + "{}", status: 413, code: problem.CodePayloadTooLarge},
		{name: "too large chunked", ct: "application/json", body: strings.Repeat(" ", 65) + "{}", chunked: true, status: 413, code: problem.CodePayloadTooLarge},
		{name: "wrong type", ct: "text/plain", body: valid, status: 415, code: problem.CodeUnsupportedMediaType},
		{name: "no type", ct: "", body: valid, status: 415, code: problem.CodeUnsupportedMediaType},
		{name: "latin1 charset", ct: "application/json; charset=latin1", body: valid, status: 415, code: problem.CodeUnsupportedMediaType},
		{name: "empty body", ct: "application/json", body: "", status: 400, code: problem.CodeValidationFailed},
		{name: "malformed", ct: "application/json", body: `{"email":`, status: 400, code: problem.CodeValidationFailed},
		{name: "dollar", ct: "application/json", body: `{"email":"a@b.co","name":"A","$where":"1"}`, status: 400, code: problem.CodeValidationFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/users", strings.NewReader(tc.body))
			if tc.chunked {
				r.ContentLength = -1
				r.Body = io.NopCloser(strings.NewReader(tc.body))
			}
			if tc.ct != "" {
				r.Header.Set("Content-Type", tc.ct)
			}
			p := asProblem(v.Validate(r, new(bytes.Buffer)))
			if tc.status == 0 {
				if p != nil {
					t.Fatalf("got %+v", p)
				}
				got, _ := io.ReadAll(r.Body)
				if string(got) != tc.body || r.ContentLength != int64(len(tc.body)) {
					t.Fatalf("body handed on as %q (len %d)", got, r.ContentLength)
				}
				return
			}
			if p == nil || p.Status != tc.status || p.Code != tc.code {
				t.Fatalf("got %+v, want %d %s", p, tc.status, tc.code)
			}
		})
	}
}

func TestSanitizeWithoutSchema(t *testing.T) {
	v := New(Config{Limits: DefaultLimits})
	for _, tc := range []struct {
		name, url, body string
		ok              bool
	}{
		{"clean", "/x?a=1", `{"a":{"b":1}}`, true},
		{"form body not parsed", "/x", `$where=1`, true},
		{"dollar in body", "/x", `{"a":{"$gt":""}}`, false},
		{"dollar in query", "/x?user[$ne]=x", ``, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", tc.url, strings.NewReader(tc.body))
			if strings.HasPrefix(tc.body, "{") {
				r.Header.Set("Content-Type", "application/json")
			} else {
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			p := asProblem(v.Validate(r, new(bytes.Buffer)))
			if (p == nil) != tc.ok {
				t.Fatalf("got %+v, want ok=%v", p, tc.ok)
			}
		})
	}
}

func TestMatchMediaType(t *testing.T) {
	for i, tc := range []struct {
		pattern, mt string
		want        bool
	}{
		{"application/json", "application/json", true},
		{"application/json", "application/jsonx", false},
		{"application/*", "application/xml", true},
		{"application/*", "text/xml", false},
		{"application/*+json", "application/problem+json", true},
		{"application/*+json", "application/json", false},
		{"application/*+json", "application/evil+jsonx", false},
		{"*/*", "text/plain", true},
	} {
		if got := MatchMediaType(tc.pattern, tc.mt); got != tc.want {
			t.Errorf("Test %d: MatchMediaType(%q, %q) = %v", i, tc.pattern, tc.mt, got)
		}
	}
}

const petsAPI = `openapi: 3.0.3
info: {title: pets, version: "1"}
servers:
  - url: https://api.example.com/v1
paths:
  /pets/{id}:
    parameters:
      - {name: id, in: path, required: true, schema: {type: integer, minimum: 1}}
    get:
      parameters:
        - {name: fields, in: query, schema: {type: string, enum: [short, long]}}
      responses: {"200": {description: ok}}
    put:
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [name]
              additionalProperties: false
              properties:
                name: {type: string, maxLength: 10}
                tag: {type: string, default: none}
      responses: {"200": {description: ok}}
`

func TestOpenAPI(t *testing.T) {
	path := filepath.Join(t.TempDir(), "api.yaml")
	if err := os.WriteFile(path, []byte(petsAPI), 0o600); err != nil {
		t.Fatal(err)
	}
	o, err := LoadOpenAPI(path)
	if err != nil {
		t.Fatal(err)
	}
	v := New(Config{OpenAPI: o, Limits: DefaultLimits})
	for _, tc := range []struct {
		name, method, url, ct, body string
		status                      int
		field, rule                 string
	}{
		{name: "get ok", method: "GET", url: "/v1/pets/3?fields=short", status: 0},
		{name: "get bad id", method: "GET", url: "/v1/pets/abc", status: 400, field: "path/id", rule: "type"},
		{name: "get id zero", method: "GET", url: "/v1/pets/0", status: 400, field: "path/id", rule: "minimum"},
		{name: "get bad enum", method: "GET", url: "/v1/pets/3?fields=<x>", status: 400, field: "query/fields", rule: "enum"},
		{name: "unknown path", method: "GET", url: "/v1/cats/3", status: 404},
		{name: "no base path", method: "GET", url: "/pets/3", status: 404},
		{name: "bad method", method: "DELETE", url: "/v1/pets/3", status: 405},
		{name: "put ok", method: "PUT", url: "/v1/pets/3", ct: "application/json", body: `{"name":"rex"}`, status: 0},
		{name: "put long name", method: "PUT", url: "/v1/pets/3", ct: "application/json", body: `{"name":"rexrexrexrex"}`, status: 400, field: "/name", rule: "maxLength"},
		{name: "put unknown field", method: "PUT", url: "/v1/pets/3", ct: "application/json", body: `{"name":"r","x":1}`, status: 400, field: "/x", rule: "additionalProperties"},
		{name: "put missing field", method: "PUT", url: "/v1/pets/3", ct: "application/json", body: `{"tag":"x"}`, status: 400, field: "/name", rule: "required"},
		{name: "put missing body", method: "PUT", url: "/v1/pets/3", ct: "application/json", body: ``, status: 400, field: "body", rule: "required"},
		{name: "put wrong type", method: "PUT", url: "/v1/pets/3", ct: "text/plain", body: `x`, status: 415},
		{name: "put dup key", method: "PUT", url: "/v1/pets/3", ct: "application/json", body: `{"name":"a","name":"b"}`, status: 400, field: "/name", rule: "duplicateKey"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			r := httptest.NewRequest(tc.method, tc.url, body)
			r.Host = "gateway.local"
			if tc.ct != "" {
				r.Header.Set("Content-Type", tc.ct)
			}
			p := asProblem(v.Validate(r, new(bytes.Buffer)))
			if tc.status == 0 {
				if p != nil {
					t.Fatalf("got %+v", p)
				}
				got, _ := io.ReadAll(r.Body)
				if string(got) != tc.body {
					t.Fatalf("body changed to %q", got)
				}
				return
			}
			if p == nil || p.Status != tc.status {
				t.Fatalf("got %+v, want status %d", p, tc.status)
			}
			if tc.field != "" && (len(p.Errors) == 0 || p.Errors[0].Field != tc.field || p.Errors[0].Rule != tc.rule) {
				t.Fatalf("got %+v, want %s %s", p.Errors, tc.field, tc.rule)
			}
			for _, fe := range p.Errors {
				if strings.Contains(fe.Message, "<x>") || strings.Contains(fe.Message, "rexrex") {
					t.Fatalf("message echoes input: %q", fe.Message)
				}
			}
		})
	}
}

func TestOpenAPILoadErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	_ = os.WriteFile(bad, []byte("openapi: 3.0.3\ninfo: {title: x}\npaths: {}\n"), 0o600)
	for _, tc := range []struct{ name, path, want string }{
		{"missing file", filepath.Join(dir, "nope.yaml"), "loading OpenAPI document"},
		{"invalid doc", bad, "is invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadOpenAPI(tc.path)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

var _ = http.MethodGet
