package validation

import (
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/apigw/caddy-apigw/problem"
)

// Limits bound and sanitize a JSON document while it is parsed. The zero
// value applies no limits; DefaultLimits is what the gateway uses.
type Limits struct {
	// MaxDepth is the deepest nesting of objects and arrays allowed
	// (0: no limit). A document nested deeper is rejected before the
	// parser recurses further, so a depth bomb costs nothing.
	MaxDepth int
	// MaxKeys is the most members one object or array may have (0: no limit).
	MaxKeys int
	// RejectDollarKeys rejects object keys starting with '$' (MongoDB
	// operators such as $where, $ne, $gt).
	RejectDollarKeys bool
	// RejectDottedKeys rejects object keys containing '.' (MongoDB paths).
	RejectDottedKeys bool
	// RejectControlChars rejects strings and keys holding NUL or another
	// control character (C0 except tab, LF and CR; DEL; C1).
	RejectControlChars bool
}

// DefaultLimits are the limits of an apigw_validate handler that sets none.
var DefaultLimits = Limits{MaxDepth: 32, MaxKeys: 1000, RejectDollarKeys: true, RejectControlChars: true}

// maxPointerSegment is how many bytes of a client-chosen key a JSON
// pointer in an error keeps.
const maxPointerSegment = 64

// ParseJSON parses one JSON document, enforcing lim, and returns it as
// the values encoding/json produces with UseNumber (map[string]any,
// []any, string, json.Number, bool, nil). Duplicate object keys, invalid
// UTF-8 and trailing data are errors. The error lists the offending
// location as a JSON pointer and never contains input text.
func ParseJSON(data []byte, lim Limits) (any, []problem.FieldError) {
	p := parser{scanner: scanner{data: data}, lim: lim}
	p.skipWS()
	v := p.value(0)
	if p.err == nil {
		p.skipWS()
		if p.pos != len(p.data) {
			p.fail(p.path(), "syntax", "unexpected data after the JSON document")
		}
	}
	if p.err != nil {
		return nil, []problem.FieldError{*p.err}
	}
	return v, nil
}

type parser struct {
	scanner
	lim Limits
	err *problem.FieldError
	// stack of path segments of the value being parsed, formatted only
	// when an error needs them
	segs []seg
}

// seg is one path step: an object key, or an array index if idx >= 0.
type seg struct {
	key string
	idx int
}

func (p *parser) path() string { return p.pathOf(len(p.segs)) }

func (p *parser) pathOf(n int) string {
	strs := make([]string, n)
	for i, s := range p.segs[:n] {
		if s.idx >= 0 {
			strs[i] = strconv.Itoa(s.idx)
		} else {
			strs[i] = s.key
		}
	}
	return Pointer(strs)
}

func (p *parser) fail(field, rule, msg string) {
	if p.err == nil {
		p.err = &problem.FieldError{Field: field, Rule: rule, Message: msg}
	}
}

func (p *parser) syntax() {
	p.fail(p.path(), "syntax", "malformed JSON at byte "+strconv.Itoa(p.pos))
}

func (p *parser) value(depth int) any {
	if p.pos >= len(p.data) {
		p.fail(p.path(), "syntax", "unexpected end of JSON input")
		return nil
	}
	switch c := p.data[p.pos]; {
	case c == '{':
		return p.object(depth + 1)
	case c == '[':
		return p.array(depth + 1)
	case c == '"':
		s, ok := p.str()
		if !ok {
			return nil
		}
		return s
	case c == 't':
		return p.literal("true", true)
	case c == 'f':
		return p.literal("false", false)
	case c == 'n':
		return p.literal("null", nil)
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	default:
		p.syntax()
		return nil
	}
}

func (p *parser) literal(word string, v any) any {
	if !p.lit(word) {
		p.syntax()
		return nil
	}
	return v
}

func (p *parser) number() any {
	lit, ok := p.scanner.number()
	if !ok {
		p.syntax()
		return nil
	}
	if !numberInRange(lit) {
		p.fail(p.path(), "numberRange", "numbers may have at most "+strconv.Itoa(maxNumberLen)+
			" characters and an exponent of at most "+strconv.Itoa(maxNumberExp))
		return nil
	}
	return json.Number(lit)
}

// Bounds on a JSON number literal. Schema checks compare numbers exactly
// (math/big in the schema library): a 9-byte 1e1000000 costs it ~0.1 s,
// so a small body of them was a denial of service. Every float64 and
// int64 literal, and far more, is within the bounds.
const (
	maxNumberLen = 400
	maxNumberExp = 400
)

// numberInRange reports whether the valid number literal lit is within
// maxNumberLen and maxNumberExp.
func numberInRange(lit []byte) bool {
	if len(lit) > maxNumberLen {
		return false
	}
	i := len(lit) - 1
	for i >= 0 && lit[i] >= '0' && lit[i] <= '9' {
		i--
	}
	if i < 0 || lit[i] != 'e' && lit[i] != 'E' && lit[i] != '+' && lit[i] != '-' || lit[i] == '-' && i == 0 {
		return true // no exponent
	}
	e := 0
	for _, c := range lit[i+1:] {
		if e = e*10 + int(c-'0'); e > maxNumberExp {
			return false
		}
	}
	return true
}

func (p *parser) enter(depth int) bool {
	if p.lim.MaxDepth > 0 && depth > p.lim.MaxDepth {
		p.fail(p.path(), "maxDepth", "nesting is deeper than "+strconv.Itoa(p.lim.MaxDepth)+" levels")
		return false
	}
	return true
}

func (p *parser) object(depth int) any {
	if !p.enter(depth) {
		return nil
	}
	p.pos++ // {
	obj := make(map[string]any)
	p.skipWS()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		return obj
	}
	for {
		p.skipWS()
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			p.syntax()
			return nil
		}
		key, ok := p.str()
		if !ok {
			return nil
		}
		p.segs = append(p.segs, seg{key: key, idx: -1})
		if _, dup := obj[key]; dup {
			p.fail(p.path(), "duplicateKey", "the key appears more than once in the object")
			return nil
		}
		if p.lim.RejectDollarKeys && strings.HasPrefix(key, "$") {
			p.fail(p.path(), "dollarKey", "keys starting with '$' are not allowed")
			return nil
		}
		if p.lim.RejectDottedKeys && strings.Contains(key, ".") {
			p.fail(p.path(), "dottedKey", "keys containing '.' are not allowed")
			return nil
		}
		if p.lim.MaxKeys > 0 && len(obj) >= p.lim.MaxKeys {
			p.fail(p.pathOf(len(p.segs)-1), "maxKeys", "the object has more than "+strconv.Itoa(p.lim.MaxKeys)+" keys")
			return nil
		}
		p.skipWS()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			p.syntax()
			return nil
		}
		p.pos++
		p.skipWS()
		v := p.value(depth)
		if p.err != nil {
			return nil
		}
		obj[key] = v
		p.segs = p.segs[:len(p.segs)-1]
		if !p.next('}') {
			if p.err != nil {
				return nil
			}
			return obj
		}
	}
}

func (p *parser) array(depth int) any {
	if !p.enter(depth) {
		return nil
	}
	p.pos++ // [
	arr := make([]any, 0, 4)
	p.skipWS()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		return arr
	}
	for {
		if p.lim.MaxKeys > 0 && len(arr) >= p.lim.MaxKeys {
			p.fail(p.path(), "maxItems", "the array has more than "+strconv.Itoa(p.lim.MaxKeys)+" items")
			return nil
		}
		p.segs = append(p.segs, seg{idx: len(arr)})
		p.skipWS()
		v := p.value(depth)
		if p.err != nil {
			return nil
		}
		arr = append(arr, v)
		p.segs = p.segs[:len(p.segs)-1]
		if !p.next(']') {
			if p.err != nil {
				return nil
			}
			return arr
		}
	}
}

// next reads what follows a member of an object or array: ',' (true,
// another member follows) or the closing byte (false). Anything else is a
// syntax error (false, with p.err set).
func (p *parser) next(closing byte) bool {
	more, ok := p.scanner.next(closing)
	if !ok {
		p.syntax()
	}
	return more
}

// str parses a string literal at p.pos (which holds '"').
func (p *parser) str() (string, bool) {
	b, ascii, f := p.scanner.str()
	switch {
	case f == faultEnd:
		p.fail(p.path(), "syntax", "unexpected end of JSON input")
	case f == faultSyntax:
		p.syntax()
	case f == faultSurrogate:
		p.fail(p.path(), "encoding", "a string holds an unpaired UTF-16 surrogate")
	case ascii:
		return string(b), true
	case !utf8.Valid(b):
		p.fail(p.path(), "encoding", "a string is not valid UTF-8")
	case p.lim.RejectControlChars && hasControl(b):
		p.fail(p.path(), "controlChars", "a string contains control characters")
	default:
		return string(b), true
	}
	return "", false
}

// HasControlChars reports whether s holds NUL or another control
// character: C0 controls except tab, LF and CR, DEL, or C1 controls.
func HasControlChars(s string) bool { return hasControl(s) }

// Pointer returns the RFC 6901 JSON pointer of the path segs. Each
// segment is cut to 64 bytes and control characters are replaced, so a
// pointer in an error stays short and printable even for hostile keys.
func Pointer(segs []string) string {
	if len(segs) == 0 {
		return ""
	}
	var b strings.Builder
	for _, s := range segs {
		b.WriteByte('/')
		writeSegment(&b, s)
	}
	return b.String()
}

func writeSegment(b *strings.Builder, s string) {
	if len(s) > maxPointerSegment {
		s = s[:maxPointerSegment]
		for len(s) > 0 && !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		defer b.WriteString("…")
	}
	for _, r := range s {
		switch {
		case r == '~':
			b.WriteString("~0")
		case r == '/':
			b.WriteString("~1")
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) || r == utf8.RuneError:
			b.WriteRune('\uFFFD')
		default:
			b.WriteRune(r)
		}
	}
}
