package validation

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http/httptest"
	"testing"
)

func FuzzParseJSON(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `[1,2,{"b":[null,true]}]`, `"\ud83d\ude00"`, `{"a":1,"a":2}`, `{"$where":1}`, `[[[[[[]]]]]]`, `1e400`, `-0.0e-0`, "{\"a\":\"\\u0000\"}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, errs := ParseJSON(data, Limits{})
		if errs == nil {
			// Anything we accept is valid JSON that encoding/json decodes
			// to the same value.
			if !json.Valid(data) {
				t.Fatalf("accepted invalid JSON %q", data)
			}
			d := json.NewDecoder(bytes.NewReader(data))
			d.UseNumber()
			var want any
			if err := d.Decode(&want); err != nil {
				t.Fatalf("encoding/json: %v", err)
			}
			a, _ := json.Marshal(v)
			b, _ := json.Marshal(want)
			if !bytes.Equal(a, b) {
				t.Fatalf("decoded %s, encoding/json %s", a, b)
			}
		} else if len(errs) != 1 {
			t.Fatalf("%d errors", len(errs))
		}
		// With limits: never a panic, and a result consistent with the
		// unlimited parse (limits only reject more).
		if _, lerrs := ParseJSON(data, DefaultLimits); lerrs == nil && errs != nil {
			t.Fatalf("limits accepted what the plain parse rejected: %q", data)
		}
	})
}

func FuzzValidateBody(f *testing.F) {
	s, err := CompileSchema("body_schema", []byte(usersSchema), true)
	if err != nil {
		f.Fatal(err)
	}
	v := New(Config{MaxBody: 4096, Body: s, Limits: DefaultLimits})
	for _, b := range []string{`{"email":"a@b.co","name":"x"}`, `{"email":1}`, `{"$ne":1}`, `[]`, ``} {
		f.Add([]byte(b), "application/json")
	}
	f.Fuzz(func(t *testing.T, body []byte, ct string) {
		r := httptest.NewRequest("POST", "/users", bytes.NewReader(body))
		r.Header.Set("Content-Type", ct)
		p := asProblem(v.Validate(r, new(bytes.Buffer)))
		if p == nil {
			got, _ := io.ReadAll(r.Body)
			if !bytes.Equal(got, body) {
				t.Fatalf("body changed")
			}
			return
		}
		switch p.Status {
		case 400, 413, 415:
		default:
			t.Fatalf("status %d", p.Status)
		}
		for _, fe := range p.Errors {
			if len(fe.Message) > 200 || len(fe.Field) > 2048 {
				t.Fatalf("oversized error %+v", fe)
			}
		}
	})
}
