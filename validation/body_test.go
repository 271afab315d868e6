package validation

import (
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/apigw/caddy-apigw/failure"
)

func TestBodyRules(t *testing.T) {
	rules := AdminBody
	rules.Max = 32
	for _, tc := range []struct {
		name, ct, body string
		allowEmpty     bool
		kind           error
		detail, field  string
	}{
		{name: "ok", ct: "application/json", body: `{"user":"a"}`},
		{name: "no type", body: `{"user":"a"}`},
		{name: "merge patch", ct: "application/merge-patch+json", body: `{"user":"a"}`},
		{name: "json patch", ct: "application/json-patch+json", body: `[]`, kind: failure.ErrUnsupportedMediaType},
		{name: "text", ct: "text/plain", body: `{}`, kind: failure.ErrUnsupportedMediaType},
		{name: "gzip", ct: "application/json", body: `{}`, kind: failure.ErrUnsupportedMediaType, detail: "compressed request bodies are not accepted here"},
		{name: "large", ct: "application/json", body: `{"user":"` + strings.Repeat("a", 40) + `"}`, kind: failure.ErrPayloadTooLarge, detail: "the body is larger than 32 bytes"},
		{name: "empty", ct: "application/json", kind: failure.ErrBadRequest, detail: "the body is empty; send a JSON object"},
		{name: "empty allowed", ct: "application/json", allowEmpty: true},
		{name: "syntax", ct: "application/json", body: `{"user" "a"}`, kind: failure.ErrBadRequest, detail: "malformed JSON at byte 9"},
		{name: "truncated", ct: "application/json", body: `{"user":`, kind: failure.ErrBadRequest, detail: "malformed JSON: the body ends early"},
		{name: "trailing", ct: "application/json", body: `{"user":"a"} {}`, kind: failure.ErrBadRequest, detail: "malformed JSON: data after the object"},
		{name: "not an object", ct: "application/json", body: `[1]`, kind: failure.ErrValidationFailed, field: ""},
		{name: "field type", ct: "application/json", body: `{"user":1}`, kind: failure.ErrValidationFailed, field: "/user"},
		{name: "unknown field", ct: "application/json", body: `{"nope":1}`, kind: failure.ErrValidationFailed, field: "/nope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", strings.NewReader(tc.body))
			if tc.ct != "" {
				r.Header.Set("Content-Type", tc.ct)
			}
			if tc.name == "gzip" {
				r.Header.Set("Content-Encoding", "gzip")
			}
			var v struct {
				User string `json:"user"`
			}
			body, err := rules.Read(r, nil)
			if err == nil {
				err = rules.Decode(body, &v, tc.allowEmpty)
			}
			if tc.kind == nil {
				if err != nil {
					t.Fatal(err)
				}
				if again, _ := io.ReadAll(r.Body); string(again) != tc.body {
					t.Fatalf("body handed on as %q", again)
				}
				return
			}
			if !errors.Is(err, tc.kind) || tc.detail != "" && failure.Detail(err) != tc.detail {
				t.Fatalf("got %v, want %v %q", err, tc.kind, tc.detail)
			}
			if fe := FieldErrors(err); tc.kind == failure.ErrValidationFailed && (len(fe) != 1 || fe[0].Field != tc.field) {
				t.Fatalf("field errors %+v, want %q", fe, tc.field)
			}
		})
	}
}

// The admin API (like apigw_login) refuses a wrong media type before it
// looks at the size or reads the body, as its reader did before the one
// body reader: 415, not 413, for an oversized body of the wrong type.
func TestBodyRulesTypeBeforeSize(t *testing.T) {
	rules := AdminBody
	rules.Max = 32
	big := `{"user":"` + strings.Repeat("a", 40) + `"}`
	for _, tc := range []struct {
		name, ct string
		chunked  bool
		kind     error
	}{
		{name: "wrong type, announced too large", ct: "text/plain", kind: failure.ErrUnsupportedMediaType},
		{name: "wrong type, chunked too large", ct: "text/plain", chunked: true, kind: failure.ErrUnsupportedMediaType},
		{name: "json patch, too large", ct: "application/json-patch+json", kind: failure.ErrUnsupportedMediaType},
		{name: "right type, too large", ct: "application/json", kind: failure.ErrPayloadTooLarge},
		{name: "no type, too large", kind: failure.ErrPayloadTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", strings.NewReader(big))
			if tc.chunked {
				r.ContentLength = -1
			}
			if tc.ct != "" {
				r.Header.Set("Content-Type", tc.ct)
			}
			if _, err := rules.Read(r, nil); !errors.Is(err, tc.kind) {
				t.Fatalf("got %v, want %v", err, tc.kind)
			}
		})
	}
}
