package validation

import (
	"encoding/binary"
	"math/bits"
	"unicode/utf16"
	"unicode/utf8"
)

// scanner is the lexical core of JSON shared by the parser (json.go) and
// the one-pass validator (onepass.go): whitespace, literals, numbers,
// member separators and strings. It reports what is wrong at pos; the
// callers word it (or just answer "not valid").
type scanner struct {
	data    []byte
	pos     int
	scratch []byte // the decoded form of a string with escapes
}

// fault is what is wrong with a string literal.
type fault uint8

const (
	faultNone      fault = iota
	faultSyntax          // a malformed literal at pos
	faultEnd             // the input ends inside the string
	faultSurrogate       // an unpaired UTF-16 surrogate escape
)

// The scanner's steps are also functions of a position in data, for the
// one-pass check: a position kept in a register rather than in the
// scanner is what lets it run at memory speed.

func (s *scanner) skipWS() { s.pos = skipWS(s.data, s.pos) }

// skipWS returns the position of the first non-whitespace byte at or
// after i.
func skipWS(data []byte, i int) int {
	// Most values follow their separator directly: one compare, inlined.
	if i < len(data) && data[i] > ' ' {
		return i
	}
	return skipSpaces(data, i)
}

func skipSpaces(data []byte, i int) int {
	for ; i < len(data); i++ {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
		default:
			return i
		}
	}
	return i
}

// lit reads the literal word (true, false, null) at pos.
func (s *scanner) lit(word string) bool {
	if !hasLit(s.data, s.pos, word) {
		return false
	}
	s.pos += len(word)
	return true
}

// hasLit reports whether data holds word at i.
func hasLit(data []byte, i int, word string) bool {
	return len(data)-i >= len(word) && string(data[i:i+len(word)]) == word
}

// digits returns the end of the run of digits at i.
func digits(data []byte, i int) int {
	for i < len(data) && data[i] >= '0' && data[i] <= '9' {
		i++
	}
	return i
}

// number reads the number literal at pos (which holds '-' or a digit);
// false leaves pos where the literal is malformed.
func (s *scanner) number() ([]byte, bool) {
	start := s.pos
	end, ok := numberEnd(s.data, start)
	s.pos = end
	if !ok {
		return nil, false
	}
	return s.data[start:end], true
}

// numberEnd returns the end of the number literal at i (which holds '-'
// or a digit), or, with false, where it is malformed.
func numberEnd(data []byte, i int) (int, bool) {
	if data[i] == '-' {
		i++
	}
	if i < len(data) && data[i] == '0' {
		i++
	} else if j := digits(data, i); j == i {
		return i, false
	} else {
		i = j
	}
	if i < len(data) && data[i] == '.' {
		i++
		j := digits(data, i)
		if j == i {
			return i, false
		}
		i = j
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		j := digits(data, i)
		if j == i {
			return i, false
		}
		i = j
	}
	return i, true
}

// next reads what follows a member of an object or array: ',' (more,
// another member follows) or the closing byte; anything else is !ok.
func (s *scanner) next(closing byte) (more, ok bool) {
	s.skipWS() // where a syntax error is
	end, more := afterMember(s.data, s.pos, closing)
	if end < 0 {
		return false, false
	}
	s.pos = end
	return more, true
}

// afterMember reads what follows a member of an object or array at i:
// ',' (more) or the closing byte; the position after it, or -1.
func afterMember(data []byte, i int, closing byte) (end int, more bool) {
	if i = skipWS(data, i); i < len(data) {
		switch data[i] {
		case ',':
			return i + 1, true
		case closing:
			return i + 1, false
		}
	}
	return -1, false
}

// The classes of string bytes for str's scan (strClass).
const (
	plainByte = iota // plain ASCII
	textByte         // needs the UTF-8 and control-character checks: DEL and non-ASCII
	stopByte         // ends the scan: '"', '\\', a control character
)

// strClass sorts string bytes for str's scan.
var strClass = func() (t [256]uint8) {
	for c := range t {
		switch {
		case c == '"' || c == '\\' || c < 0x20:
			t[c] = stopByte
		case c >= 0x7f:
			t[c] = textByte
		}
	}
	return
}()

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// specialMask marks with its high bit each of the eight bytes of x that
// is not plain ASCII for str: '"', '\\', a control character, DEL or
// non-ASCII. Each byte is computed alone (no carry crosses a byte), so
// the lowest mark is the first such byte.
func specialMask(x uint64) uint64 { return stopMask(x) | textMask(x) }

// textMask marks, as specialMask does, DEL and the bytes beyond ASCII.
func textMask(x uint64) uint64 {
	del := (x &^ highs) + ones // high bit: 0x7f
	return (x | del) & highs
}

// stopMask marks, as specialMask does, the bytes of x that end str's
// scan: '"', '\\' and the control characters below ' '.
func stopMask(x uint64) uint64 {
	x7 := x &^ highs
	ge20 := x7 + (0x80-0x20)*ones        // high bit: at least ' '
	quote := (x7 ^ '"'*ones) + 0x7f*ones // high bit: not '"'
	bslash := (x7 ^ '\\'*ones) + 0x7f*ones
	return (^ge20 | ^quote | ^bslash) &^ x & highs
}

// str reads the string literal at pos (which holds '"') and returns its
// decoded bytes, valid until the next call; ascii reports that they are
// plain printable ASCII (valid UTF-8 without control characters, and
// their length is their rune count). Other strings are not checked for
// UTF-8 or control characters here.
func (s *scanner) str() (b []byte, ascii bool, f fault) {
	s.pos++
	return s.strFrom(plainEnd(s.data, s.pos))
}

// plainEnd returns the position of the first byte at or after i that is
// not plain ASCII for str (or len(data)).
func plainEnd(data []byte, i int) int { return classEnd(data, i, textByte) }

// classEnd returns the position of the first byte at or after i whose
// strClass is at least class (textByte or stopByte), or len(data): eight
// bytes at a time (specialMask or stopMask), then straight to that byte.
func classEnd(data []byte, i int, class uint8) int {
	if i > len(data) {
		return i
	}
	for ; i <= len(data)-8; i += 8 {
		x := binary.LittleEndian.Uint64(data[i : i+8 : i+8])
		m := stopMask(x)
		if class == textByte {
			m |= textMask(x)
		}
		if m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for i < len(data) && strClass[data[i]] < class {
		i++
	}
	return i
}

// strFrom is str once the string's bytes from pos to i are known to be
// plain ASCII.
func (s *scanner) strFrom(i int) (b []byte, ascii bool, f fault) {
	start := s.pos
	var seen uint8
	data := s.data
	for ; i < len(data); i++ {
		cl := strClass[data[i]]
		if cl == plainByte {
			continue
		}
		if cl == textByte {
			// Not ASCII: UTF-8 and control characters are checked by
			// the caller; on to the next byte that ends the scan, eight
			// at a time (the loop's i++ lands on it).
			seen = 2
			i = classEnd(data, i+1, stopByte) - 1
			continue
		}
		s.pos = i
		switch c := data[i]; {
		case c == '"':
			s.pos++
			return data[start:i], seen == 0, faultNone
		case c < 0x20:
			return nil, false, faultSyntax
		}
		break // a backslash
	}
	if s.pos < start || s.pos >= len(data) || data[s.pos] != '\\' {
		return nil, false, faultEnd // unterminated
	}
	b, f = s.unescape(append(s.scratch[:0], data[start:s.pos]...))
	s.scratch = b[:0]
	return b, false, f
}

// unescape decodes the rest of a string with escapes onto b.
func (s *scanner) unescape(b []byte) ([]byte, fault) {
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		switch {
		case c == '"':
			s.pos++
			return b, faultNone
		case c < 0x20:
			return b, faultSyntax
		case c != '\\':
			b = append(b, c)
			s.pos++
			continue
		}
		s.pos++
		if s.pos >= len(s.data) {
			return b, faultSyntax
		}
		e := s.data[s.pos]
		s.pos++
		switch e {
		case '"', '\\', '/':
			b = append(b, e)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r, ok := s.hex4()
			if !ok {
				return b, faultSyntax
			}
			if utf16.IsSurrogate(r) {
				if s.pos+1 >= len(s.data) || s.data[s.pos] != '\\' || s.data[s.pos+1] != 'u' {
					return b, faultSurrogate
				}
				s.pos += 2
				r2, ok := s.hex4()
				if !ok {
					return b, faultSyntax
				}
				if r = utf16.DecodeRune(r, r2); r == utf8.RuneError {
					return b, faultSurrogate
				}
			}
			b = utf8.AppendRune(b, r)
		default:
			return b, faultSyntax
		}
	}
	return b, faultEnd
}

func (s *scanner) hex4() (rune, bool) {
	if len(s.data)-s.pos < 4 {
		return 0, false
	}
	var r rune
	for _, c := range s.data[s.pos : s.pos+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	s.pos += 4
	return r, true
}

// textRunes checks a decoded string that is not plain ASCII in one pass
// (the three passes of utf8.Valid, hasControl and utf8.RuneCount were
// measured on text that is not ASCII): valid UTF-8, exactly as
// utf8.Valid, and if noControl no control character, exactly as
// hasControl; it returns the rune count.
func textRunes(s []byte, noControl bool) (int, bool) {
	n := 0
	for i := 0; i < len(s); n++ {
		if c := s[i]; c < utf8.RuneSelf {
			if noControl && (c < 0x20 && c != '\t' && c != '\n' && c != '\r' || c == 0x7f) {
				return 0, false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if size == 1 {
			return 0, false // not UTF-8 (an encoded U+FFFD has 3 bytes)
		}
		if noControl && r <= 0x9f {
			return 0, false // C1
		}
		i += size
	}
	return n, true
}

// hasControl is HasControlChars over a string or bytes.
func hasControl[S ~string | ~[]byte](s S) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' || c == 0x7f {
			return true
		}
		// C1 controls U+0080..U+009F are encoded as C2 80..C2 9F.
		if c == 0xc2 && i+1 < len(s) && s[i+1] >= 0x80 && s[i+1] <= 0x9f {
			return true
		}
	}
	return false
}
