package validation

import (
	"bytes"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
)

// body1KB is a valid ~1 KB JSON document for benchmarks.
var body1KB = func() string {
	var b strings.Builder
	b.WriteString(`{"email":"ada@example.com","name":"Ada Lovelace","age":36,"tags":[`)
	for i := 0; b.Len() < 1000; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"k":"analytical-engine","v":12345,"ok":true}`)
	}
	b.WriteString(`]}`)
	return b.String()
}()

const benchSchema = `{"type":"object","required":["email","name"],"properties":{
	"email":{"type":"string","format":"email","maxLength":255},
	"name":{"type":"string","minLength":1,"maxLength":100},
	"age":{"type":"integer","minimum":0,"maximum":150},
	"tags":{"type":"array","items":{"type":"object","properties":{"k":{"type":"string"},"v":{"type":"integer"},"ok":{"type":"boolean"}}}}},
	"additionalProperties":false}`

func BenchmarkParseJSON1KB(b *testing.B) {
	data := []byte(body1KB)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, errs := ParseJSON(data, DefaultLimits); errs != nil {
			b.Fatal(errs)
		}
	}
}

func BenchmarkValidateBody1KB(b *testing.B) {
	s, err := CompileSchema("b", []byte(benchSchema), benchStrict)
	if err != nil {
		b.Fatal(err)
	}
	benchValidate(b, New(Config{Body: s, Limits: DefaultLimits}), []byte(body1KB))
}

// benchValidate POSTs data as JSON through v, the body rewound for each
// round, and fails on a refusal.
func benchValidate(b *testing.B, v *Validator, data []byte) {
	body := &rewindReader{data: data}
	r := httptest.NewRequest("POST", "/users", nil)
	r.Header.Set("Content-Type", "application/json")
	var buf bytes.Buffer
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		body.off = 0
		r.Body = body
		r.ContentLength = int64(len(data))
		buf.Reset()
		if p := v.Validate(r, &buf); p != nil {
			b.Fatal(p, FieldErrors(p))
		}
	}
}

func BenchmarkValidateQuery(b *testing.B) {
	ps, err := CompileParamSchema("q", "query", []byte(pagingSchema), false)
	if err != nil {
		b.Fatal(err)
	}
	v := New(Config{Query: ps, Limits: DefaultLimits, QueryDefaults: true})
	r := httptest.NewRequest("GET", "/users?page=2&limit=50&sort=asc", nil)
	b.ReportAllocs()
	for b.Loop() {
		if p := v.Validate(r, nil); p != nil {
			b.Fatal(p)
		}
	}
}

type rewindReader struct {
	data []byte
	off  int
}

func (r *rewindReader) Read(p []byte) (int, error) {
	if r.off >= len(r.data) {
		return 0, io.EOF
	}
	n := copy(p, r.data[r.off:])
	r.off += n
	return n, nil
}

func (r *rewindReader) Close() error { return nil }

// benchStrict selects strict mode for BenchmarkValidateBody1KB; strict
// adds unevaluatedProperties to every item object, which the validator
// tracks per property (compare with BenchmarkValidateBody1KBLenient).
var benchStrict = true

func BenchmarkValidateBody1KBLenient(b *testing.B) {
	benchStrict = false
	defer func() { benchStrict = true }()
	BenchmarkValidateBody1KB(b)
}

// BenchmarkValidateUsersDemo validates the demo's POST /users body
// against the demo schema (strict), body read included.
func BenchmarkValidateUsersDemo(b *testing.B) {
	s, err := CompileSchema("b", []byte(usersSchema), true)
	if err != nil {
		b.Fatal(err)
	}
	v := New(Config{Body: s, MaxBody: 1 << 20, ContentTypes: []string{"application/json"}, Limits: DefaultLimits})
	data := []byte(`{"email":"ada@example.com","name":"Ada Lovelace","age":36}`)
	body := &rewindReader{data: data}
	r := httptest.NewRequest("POST", "/users", nil)
	r.Header.Set("Content-Type", "application/json")
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		body.off = 0
		r.Body = body
		r.ContentLength = int64(len(data))
		buf.Reset()
		if p := v.Validate(r, &buf); p != nil {
			b.Fatal(p)
		}
	}
}
