package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/apigw/caddy-apigw/problem"
)

// The admin API's request decoding and value checks.

// decodeBody reads one JSON object (at most MaxAdminBody bytes, no
// unknown fields, nothing after it) into v. On failure it writes the
// problem and returns false.
//
// Content types: application/json, any application/*+json (PATCH takes
// application/merge-patch+json; application/json-patch+json, RFC 6902, is
// refused there since its semantics differ), none, and curl's default for
// -d, application/x-www-form-urlencoded: the body must still be JSON, and
// Caddy's admin origin checks keep browsers' cross-site form posts out.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	return decodeBodyOpt(w, r, v, false)
}

// decodeBodyOpt is decodeBody; allowEmpty accepts a missing body (v is
// left as it is).
func decodeBodyOpt(w http.ResponseWriter, r *http.Request, v any, allowEmpty bool) bool {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		ok := err == nil && (mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")) ||
			mt == "application/x-www-form-urlencoded")
		if ok && mt == "application/json-patch+json" {
			ok = false
		}
		if !ok {
			_ = adminFail(w, http.StatusUnsupportedMediaType, problem.CodeUnsupportedMediaType,
				"send Content-Type: application/json (or application/merge-patch+json for PATCH)")
			return false
		}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxAdminBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, err2 := dec.Token(); err2 != io.EOF {
			err = errTrailing
			var mbe *http.MaxBytesError
			if errors.As(err2, &mbe) {
				err = err2
			}
		}
	}
	if err == nil {
		return true
	}
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
		mbe *http.MaxBytesError
	)
	switch {
	case errors.As(err, &mbe):
		_ = adminFail(w, http.StatusRequestEntityTooLarge, problem.CodePayloadTooLarge, fmt.Sprintf("the body is larger than %d bytes", MaxAdminBody))
	case errors.Is(err, io.EOF) && allowEmpty:
		return true
	case errors.Is(err, io.EOF):
		_ = adminFail(w, http.StatusBadRequest, problem.CodeBadRequest, "the body is empty; send a JSON object")
	case errors.As(err, &syn):
		_ = adminFail(w, http.StatusBadRequest, problem.CodeBadRequest, fmt.Sprintf("malformed JSON at byte %d", syn.Offset))
	case errors.Is(err, io.ErrUnexpectedEOF):
		_ = adminFail(w, http.StatusBadRequest, problem.CodeBadRequest, "malformed JSON: the body ends early")
	case errors.Is(err, errTrailing):
		_ = adminFail(w, http.StatusBadRequest, problem.CodeBadRequest, "malformed JSON: data after the object")
	case errors.As(err, &typ):
		if typ.Field == "" {
			_ = validationFail(w, []problem.FieldError{{Field: "", Rule: "type", Message: "the body must be a JSON object"}})
		} else {
			_ = validationFail(w, []problem.FieldError{{Field: "/" + strings.ReplaceAll(typ.Field, ".", "/"), Rule: "type", Message: "must be " + jsonKind(typ.Type.Kind().String())}})
		}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		if !validText(name, 64) {
			name = "?"
		}
		_ = validationFail(w, []problem.FieldError{{Field: "/" + name, Rule: "additionalProperties", Message: "unknown field"}})
	default:
		_ = adminFail(w, http.StatusBadRequest, problem.CodeBadRequest, "the body could not be read as JSON")
	}
	return false
}

var errTrailing = errors.New("trailing data")

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "slice":
		return "an array"
	case "map", "struct":
		return "an object"
	case "int", "int64", "float64":
		return "a number"
	case "bool":
		return "a boolean"
	}
	return "of another type"
}

// validText reports whether s is 1..max runes of printable UTF-8.
func validText(s string, max int) bool {
	if s == "" || len(s) > 4*max || !utf8.ValidString(s) || utf8.RuneCountInString(s) > max {
		return false
	}
	for _, c := range s {
		if !unicode.IsPrint(c) {
			return false
		}
	}
	return true
}

// parseExpiry reads an absolute RFC 3339 time, a duration from now
// ("720h") or seconds since 1970 (a JWT NumericDate); the result must be
// in the future.
func parseExpiry(raw json.RawMessage, now time.Time) (time.Time, error) {
	const form = "expires must be an RFC 3339 time (2030-01-02T15:04:05Z), a duration (720h) or seconds since 1970"
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		if d, err := time.ParseDuration(s); err == nil {
			if d <= 0 {
				return time.Time{}, errors.New("expires must be a positive duration such as 720h")
			}
			return now.Add(d).UTC(), nil
		}
	}
	t, err := parseNumericDate(raw)
	if err != nil {
		return time.Time{}, errors.New(form)
	}
	if !t.After(now) {
		return time.Time{}, errors.New("expires is in the past")
	}
	return t, nil
}

// parseNumericDate reads a JWT NumericDate (seconds since the epoch) or an
// RFC 3339 string.
func parseNumericDate(raw json.RawMessage) (time.Time, error) {
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		if f, err := n.Float64(); err == nil && f > 0 && f < 1e11 {
			sec := int64(f)
			return time.Unix(sec, int64((f-float64(sec))*1e9)).UTC(), nil
		}
		return time.Time{}, errors.New("exp must be seconds since 1970 (a JWT NumericDate) or an RFC 3339 time")
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errors.New("exp must be seconds since 1970 (a JWT NumericDate) or an RFC 3339 time")
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
