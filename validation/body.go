package validation

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/apigw/caddy-apigw/failure"
	"github.com/apigw/caddy-apigw/problem"
)

// The one reader of request bodies: media type, encoding, size cap,
// JSON decoding and trailing data, for apigw_validate, apigw_login and
// the admin API alike. Each endpoint says what it takes (BodyRules) and
// how its refusals are worded (BodyWords); the refusals are failure
// kinds (ErrUnsupportedMediaType, ErrPayloadTooLarge, ErrBadRequest, or
// ErrValidationFailed with field errors, see Failed).

// MissingType says what a body without a Content-Type header is.
type MissingType uint8

// What a missing Content-Type means.
const (
	// TypeNeededForBody refuses a missing Content-Type when there is a
	// body (an empty body needs none).
	TypeNeededForBody MissingType = iota
	// TypeOptional takes a body without Content-Type.
	TypeOptional
	// TypeRequired refuses a request without Content-Type, body or not.
	TypeRequired
)

// CharsetRule says which charset parameters of the Content-Type are
// taken.
type CharsetRule uint8

// The charset rules.
const (
	// CharsetUTF8JSON refuses a charset other than utf-8 on JSON media
	// types (RFC 8259: JSON is UTF-8).
	CharsetUTF8JSON CharsetRule = iota
	// CharsetUTF8 refuses a charset other than utf-8 on every type.
	CharsetUTF8
	// CharsetAny takes any charset parameter.
	CharsetAny
)

// ErrCharset is the cause of a refusal for the charset parameter (rather
// than the media type itself).
var ErrCharset = errors.New("charset not supported")

// BodyWords are the client-facing details of an endpoint's body
// refusals. Formats take the arguments named.
type BodyWords struct {
	MediaType string // 415 for the media type or an encoding
	Charset   string // 415 for the charset ("": MediaType)
	// TooLarge words the 413 for a limit in bytes.
	TooLarge   func(limit int64) string
	Empty      string // 400: no JSON at all
	Syntax     string // 400: %d is the byte offset of the error
	Truncated  string // 400: the JSON ends early
	Trailing   string // 400: data after the value
	MoreValues string // 400: a second JSON value ("": Trailing)
	// NotObject is the 400 bad_request detail for JSON that is not the
	// object expected; when "", it is a validation failure at "" with
	// NotObjectField as its message.
	NotObject, NotObjectField string
	// FieldType formats the message of a member of the wrong type: %[1]s
	// is its name, %[2]s the type wanted ("a string").
	FieldType   string
	Invalid     string // the detail of a validation failure
	Undecodable string // 400: any other decoding failure
}

// BodyRules are what an endpoint takes as a request body.
type BodyRules struct {
	// Max is the largest body in bytes.
	Max int64
	// MediaTypes are MatchMediaType patterns of the types taken; none:
	// any type (and no charset check).
	MediaTypes []string
	// Refused are media types refused although a pattern matches them.
	Refused []string
	// Missing says what a missing Content-Type is.
	Missing MissingType
	// Charset says which charset parameters are taken.
	Charset CharsetRule
	// Strict refuses unknown members when decoding into a struct.
	Strict bool
	// TypeFirst checks the Content-Type before the size and the body
	// (apigw_login, the admin API: a wrong type is a 415 whatever the
	// size). Not with TypeNeededForBody, which needs the body read.
	TypeFirst bool
	// Words word the refusals.
	Words BodyWords
}

// Read reads r's body into buf (at most Max+1 bytes), checks its media
// type and encoding, and makes r.Body read the same bytes again. A
// missing body is (nil, nil).
func (b *BodyRules) Read(r *http.Request, buf *bytes.Buffer) ([]byte, error) {
	if b.TypeFirst {
		if err := b.checkType(headerValue(r.Header, "Content-Type"), true); err != nil {
			return nil, err
		}
	}
	if r.ContentLength > b.Max {
		return nil, b.tooLarge(b.Max)
	}
	var body []byte
	if r.Body != nil && r.Body != http.NoBody {
		if ce := headerValue(r.Header, "Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
			return nil, failure.New(failure.ErrUnsupportedMediaType, "compressed request bodies are not accepted here")
		}
		if buf == nil {
			buf = new(bytes.Buffer)
		}
		if r.ContentLength > 0 {
			// ReadFrom wants MinRead bytes free before each read, the one
			// that sees EOF included: without the margin a body of exactly
			// the announced length is copied once more into a buffer twice
			// its size.
			buf.Grow(int(r.ContentLength) + bytes.MinRead)
		}
		if _, err := buf.ReadFrom(io.LimitReader(r.Body, b.Max+1)); err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, b.tooLarge(mbe.Limit)
			}
			return nil, failure.Wrap(failure.ErrBadRequest, "the request body could not be read", err)
		}
		if int64(buf.Len()) > b.Max {
			return nil, b.tooLarge(b.Max)
		}
		body = buf.Bytes()
		_ = r.Body.Close()
		setBody(r, body)
	}
	if !b.TypeFirst {
		if err := b.checkType(headerValue(r.Header, "Content-Type"), len(body) > 0); err != nil {
			return nil, err
		}
	}
	return body, nil
}

func (b *BodyRules) tooLarge(limit int64) error {
	return failure.New(failure.ErrPayloadTooLarge, b.Words.TooLarge(limit))
}

// checkType checks a Content-Type value.
func (b *BodyRules) checkType(ct string, hasBody bool) error {
	if len(b.MediaTypes) == 0 {
		return nil
	}
	if ct == "" {
		if b.Missing == TypeOptional || (b.Missing == TypeNeededForBody && !hasBody) {
			return nil
		}
		return failure.New(failure.ErrUnsupportedMediaType, b.Words.MediaType)
	}
	mt, params, err := parseMediaType(ct)
	ok := err == nil
	if ok {
		ok = false
		for _, allowed := range b.MediaTypes {
			if MatchMediaType(allowed, mt) {
				ok = true
				break
			}
		}
		for _, refused := range b.Refused {
			ok = ok && mt != refused
		}
	}
	if !ok {
		return failure.New(failure.ErrUnsupportedMediaType, b.Words.MediaType)
	}
	if cs, has := params["charset"]; has && !strings.EqualFold(cs, "utf-8") &&
		(b.Charset == CharsetUTF8 || (b.Charset == CharsetUTF8JSON && isJSON(mt))) {
		detail := b.Words.Charset
		if detail == "" {
			detail = b.Words.MediaType
		}
		return failure.Wrap(failure.ErrUnsupportedMediaType, detail, ErrCharset)
	}
	return nil
}

// headerValue is h.Get(key) for a key already in canonical form: Get
// canonicalizes its key on every call, a cost measured per request.
func headerValue(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// parseMediaType is mime.ParseMediaType, with the bare
// "application/json" of most JSON requests answered without its
// allocations (no parameters: a nil map).
func parseMediaType(ct string) (string, map[string]string, error) {
	if ct == "application/json" {
		return ct, nil, nil
	}
	return mime.ParseMediaType(ct)
}

// errTrailing is a decoded value followed by more data.
var errTrailing = errors.New("trailing data")

// Decode decodes body, one JSON value and nothing after it, into v. An
// empty body is an error unless allowEmpty (v is left as it is).
func (b *BodyRules) Decode(body []byte, v any, allowEmpty bool) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if b.Strict {
		dec.DisallowUnknownFields()
	}
	err := dec.Decode(v)
	w := &b.Words
	if err == nil {
		if w.MoreValues != "" && dec.More() {
			return failure.New(failure.ErrBadRequest, w.MoreValues)
		}
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			return failure.New(failure.ErrBadRequest, w.Trailing)
		}
		return nil
	}
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
	)
	switch {
	case errors.Is(err, io.EOF) && allowEmpty:
		return nil
	case errors.Is(err, io.EOF):
		return failure.New(failure.ErrBadRequest, w.Empty)
	case errors.As(err, &syn):
		return failure.New(failure.ErrBadRequest, fmt.Sprintf(w.Syntax, syn.Offset))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return failure.New(failure.ErrBadRequest, w.Truncated)
	case errors.As(err, &typ) && typ.Field == "" && w.NotObject != "":
		return failure.New(failure.ErrBadRequest, w.NotObject)
	case errors.As(err, &typ) && typ.Field == "":
		return Failed(w.Invalid, problem.FieldError{Field: "", Rule: "type", Message: w.NotObjectField})
	case errors.As(err, &typ):
		return Failed(w.Invalid, problem.FieldError{Field: "/" + strings.ReplaceAll(typ.Field, ".", "/"), Rule: "type",
			Message: fmt.Sprintf(w.FieldType, typ.Field, jsonKind(typ.Type.Kind().String()))})
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		if !PrintableText(name, 64) {
			name = "?"
		}
		return Failed(w.Invalid, problem.FieldError{Field: "/" + name, Rule: "additionalProperties", Message: "unknown field"})
	default:
		return failure.Wrap(failure.ErrBadRequest, w.Undecodable, err)
	}
}

// jsonKind names the JSON type of a Go kind, for messages.
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

// PrintableText reports whether s is 1..max runes of printable UTF-8.
func PrintableText(s string, max int) bool {
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

// Invalid is a validation failure (failure.ErrValidationFailed) with the
// fields that break the rules.
type Invalid struct {
	err    *failure.Error
	Fields []problem.FieldError
}

// Failed returns a validation failure with detail and the field errors.
func Failed(detail string, fields ...problem.FieldError) error {
	return &Invalid{err: failure.New(failure.ErrValidationFailed, detail), Fields: fields}
}

// Error returns the kind and detail.
func (e *Invalid) Error() string { return e.err.Error() }

// Unwrap returns the failure, so errors.Is(err,
// failure.ErrValidationFailed) and failure.Detail see it.
func (e *Invalid) Unwrap() error { return e.err }

// FieldErrors returns the field errors of a validation failure in err's
// chain (nil for any other error).
func FieldErrors(err error) []problem.FieldError {
	var in *Invalid
	if errors.As(err, &in) {
		return in.Fields
	}
	return nil
}
