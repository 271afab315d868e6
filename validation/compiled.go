package validation

import (
	"encoding/json"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// A compiled schema is the common subset of JSON Schema 2020-12 (type,
// enum, const, required, properties, additionalProperties,
// unevaluatedProperties, min/maxProperties, min/maxLength, format email,
// minimum, maximum, exclusiveMinimum, exclusiveMaximum, items,
// unevaluatedItems, min/maxItems, boolean schemas and annotations)
// checked in one pass over the body bytes by accepts (onepass.go),
// without building a document tree. It was hand-written because the
// library's cost was measured at ~110 ns per body byte (a map and an
// interface per value, a big.Rat per number checked against integer,
// minimum or maximum): the one-pass check is what lets a 100 KB body run
// at a third of a plain POST. A schema using any other keyword is not
// compiled and the library validates alone. The library stays the
// reference: the one-pass check only ever accepts, and every body it does
// not accept is parsed and validated again by ParseJSON and the library,
// so rejections and their field errors are exactly the library's
// (FuzzOnePassMatchesLibrary holds the two to the same verdicts).
type cnode struct {
	never  bool  // the false schema
	types  uint8 // tNull|…; 0 means any type
	minLen int   // -1: none
	maxLen int
	email  bool
	bounds []bound
	// intBounds: every bound is an integer bound (isInt), so together
	// they are the range intLo..intHi of the integers they accept.
	intBounds    bool
	intLo, intHi int64
	enum         []primitive // nil: no enum or const
	hasEnu       bool

	props   []cprop // properties, then required names not among them
	reqMask uint64  // the bits of the required props
	// byFirst maps the first byte of a key to 1 + the index of the one
	// raw prop of at most 7 bytes that starts with it; 0: no raw prop
	// starts with it; multiKey: several, or a longer one (nil: no props).
	byFirst *[256]uint8
	// dollarKeys and dottedKeys are the bits of the props whose names
	// start with '$' or hold a '.', for Limits.RejectDollarKeys and
	// RejectDottedKeys.
	dollarKeys, dottedKeys uint64
	additional             *cnode // nil: anything
	minProps               int
	maxProps               int
	items                  *cnode // nil: anything
	minItems               int
	maxItems               int
	hasObjRules            bool
}

type cprop struct {
	name     string
	node     *cnode // nil: not in properties (a required name only)
	sub      *cnode // what its value must be: node, else additional, else anyNode
	required bool
	raw      bool // name is printable ASCII without '"' or '\\': its JSON is "name"
	// kmask selects the bytes of `name"` in a little-endian word and kword
	// is their value, for a raw name of at most 7 bytes (else kmask is 0).
	kmask, kword uint64
}

const (
	tNull uint8 = 1 << iota
	tBool
	tObject
	tArray
	tNumber
	tInteger
	tString
)

var typeBits = map[string]uint8{"null": tNull, "boolean": tBool, "object": tObject, "array": tArray, "number": tNumber, "integer": tInteger, "string": tString}

// bound is one of minimum (op 0), maximum (1), exclusiveMinimum (2),
// exclusiveMaximum (3).
type bound struct {
	op  int
	d   dec
	big bool
	rat *big.Rat
	// isInt: the bound is the integer i (|i| < 10^18), for integer
	// literals compared without a dec.
	isInt bool
	i     int64
}

// primitive is an enum or const value: a string, bool, null or number.
type primitive struct {
	kind uint8 // tString, tBool, tNull, tNumber
	s    string
	b    bool
	num  bound // d/big/rat only
}

// maxFastProps is the most properties an object schema of the subset may
// declare (a bitmask tracks which were seen).
const maxFastProps = 64

// multiKey marks a first byte of several props in cnode.byFirst.
const multiKey = 255

var annotations = map[string]bool{"title": true, "description": true, "default": true, "examples": true,
	"$comment": true, "deprecated": true, "readOnly": true, "writeOnly": true, "$defs": true, "definitions": true}

// compileSubset compiles doc (a schema after makeStrict) or returns nil
// if it uses anything outside the subset.
func compileSubset(doc any, root bool) *cnode {
	switch d := doc.(type) {
	case bool:
		n := newNode()
		n.never = !d
		return n
	case map[string]any:
		n := newNode()
		if !n.compile(d, root) {
			return nil
		}
		return n
	}
	return nil
}

// newNode returns the empty schema: no rules.
func newNode() *cnode {
	return &cnode{minLen: -1, maxLen: -1, minProps: -1, maxProps: -1, minItems: -1, maxItems: -1,
		intBounds: true, intLo: math.MinInt64, intHi: math.MaxInt64}
}

func (n *cnode) compile(d map[string]any, root bool) bool {
	var required []string
	var ok bool
	for k, v := range d {
		switch k {
		case "$schema":
			if !root || v != "https://json-schema.org/draft/2020-12/schema" {
				return false
			}
		case "type":
			switch t := v.(type) {
			case string:
				n.types = typeBits[t]
			case []any:
				for _, e := range t {
					s, _ := e.(string)
					n.types |= typeBits[s]
				}
			}
			if n.types == 0 {
				return false
			}
		case "enum", "const":
			if n.hasEnu {
				return false // both: keep it simple, let the library do it
			}
			vals := []any{v}
			if k == "enum" {
				if vals, ok = v.([]any); !ok {
					return false
				}
			}
			n.hasEnu = true
			n.enum = make([]primitive, 0, len(vals))
			for _, e := range vals {
				p, ok := toPrimitive(e)
				if !ok {
					return false
				}
				n.enum = append(n.enum, p)
			}
		case "required":
			arr, ok := v.([]any)
			if !ok {
				return false
			}
			for _, e := range arr {
				s, ok := e.(string)
				if !ok {
					return false
				}
				required = append(required, s)
			}
		case "properties":
			m, ok := v.(map[string]any)
			if !ok {
				return false
			}
			for name, sub := range m {
				c := compileSubset(sub, false)
				if c == nil {
					return false
				}
				n.props = append(n.props, cprop{name: name, node: c})
			}
		case "additionalProperties":
			if n.additional = compileSubset(v, false); n.additional == nil {
				return false
			}
		case "unevaluatedProperties":
			// handled below: with properties and additionalProperties the
			// only object applicators, it acts as additionalProperties.
		case "items":
			if n.items = compileSubset(v, false); n.items == nil {
				return false
			}
		case "unevaluatedItems":
			// handled below, as items when items is absent.
		case "minLength", "maxLength", "minProperties", "maxProperties", "minItems", "maxItems":
			num, ok := v.(json.Number)
			if !ok {
				return false
			}
			i, err := strconv.Atoi(string(num))
			if err != nil || i < 0 {
				return false
			}
			*map[string]*int{"minLength": &n.minLen, "maxLength": &n.maxLen, "minProperties": &n.minProps,
				"maxProperties": &n.maxProps, "minItems": &n.minItems, "maxItems": &n.maxItems}[k] = i
		case "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum":
			num, ok := v.(json.Number)
			if !ok {
				return false
			}
			b, ok := toBound(string(num))
			if !ok {
				return false
			}
			b.op = map[string]int{"minimum": 0, "maximum": 1, "exclusiveMinimum": 2, "exclusiveMaximum": 3}[k]
			n.bounds = append(n.bounds, b)
		case "format":
			if v != "email" {
				return false
			}
			n.email = true
		default:
			if !annotations[k] {
				return false
			}
		}
	}
	if n.additional == nil {
		if up, ok := d["unevaluatedProperties"]; ok {
			if n.additional = compileSubset(up, false); n.additional == nil {
				return false
			}
		}
	}
	if n.items == nil {
		if ui, ok := d["unevaluatedItems"]; ok {
			if n.items = compileSubset(ui, false); n.items == nil {
				return false
			}
		}
	}
	for _, r := range required {
		found := false
		for i := range n.props {
			if n.props[i].name == r {
				n.props[i].required = true
				found = true
			}
		}
		if !found {
			n.props = append(n.props, cprop{name: r, required: true})
		}
	}
	if len(n.props) > maxFastProps {
		return false
	}
	for i := range n.props {
		pr := &n.props[i]
		pr.raw = pr.name != "" && !strings.ContainsAny(pr.name, `"\\`) && !strings.ContainsFunc(pr.name, func(r rune) bool { return r < 0x20 || r >= 0x7f })
		if pr.raw && len(pr.name) < 8 {
			for j, c := range []byte(pr.name + `"`) {
				pr.kmask |= 0xff << (8 * j)
				pr.kword |= uint64(c) << (8 * j)
			}
		}
		if pr.required {
			n.reqMask |= 1 << i
		}
		if pr.name != "" && pr.name[0] == '$' {
			n.dollarKeys |= 1 << i
		}
		if strings.IndexByte(pr.name, '.') >= 0 {
			n.dottedKeys |= 1 << i
		}
		if pr.sub = pr.node; pr.sub == nil {
			if pr.sub = n.additional; pr.sub == nil {
				pr.sub = anyNode
			}
		}
		if pr.raw {
			if n.byFirst == nil {
				n.byFirst = new([256]uint8)
			}
			if f := &n.byFirst[pr.name[0]]; *f == 0 && pr.kmask != 0 {
				*f = uint8(i + 1)
			} else {
				*f = multiKey
			}
		}
	}
	for _, b := range n.bounds {
		switch {
		case !b.isInt:
			n.intBounds = false
		case b.op == 0: // minimum
			n.intLo = max(n.intLo, b.i)
		case b.op == 1: // maximum
			n.intHi = min(n.intHi, b.i)
		case b.op == 2: // exclusiveMinimum (|b.i| < 10^18: no overflow)
			n.intLo = max(n.intLo, b.i+1)
		case b.op == 3: // exclusiveMaximum
			n.intHi = min(n.intHi, b.i-1)
		}
	}
	n.hasObjRules = len(n.props) > 0 || n.additional != nil || n.minProps >= 0 || n.maxProps >= 0
	return true
}

func toPrimitive(v any) (primitive, bool) {
	switch v := v.(type) {
	case nil:
		return primitive{kind: tNull}, true
	case bool:
		return primitive{kind: tBool, b: v}, true
	case string:
		return primitive{kind: tString, s: v}, true
	case json.Number:
		b, ok := toBound(string(v))
		return primitive{kind: tNumber, num: b}, ok
	}
	return primitive{}, false
}

func toBound(lit string) (bound, bool) {
	r, ok := new(big.Rat).SetString(lit)
	if !ok {
		return bound{}, false
	}
	d, fits := parseDec([]byte(lit))
	b := bound{d: d, big: !fits, rat: r}
	if fits && d.isInt() && d.nd+d.exp <= 18 {
		b.isInt, b.i = true, int64(d.mant)
		if d.mant != 0 {
			b.i *= int64(pow10[d.exp])
		}
		if d.neg {
			b.i = -b.i
		}
	}
	return b, true
}

// holds reports whether a comparison c (of a value with a bound) meets
// the bound's op: minimum, maximum, exclusiveMinimum, exclusiveMaximum.
func holds(op, c int) bool {
	switch op {
	case 0:
		return c >= 0
	case 1:
		return c <= 0
	case 2:
		return c > 0
	case 3:
		return c < 0
	}
	return true
}

// dec is an exact decimal mant × 10^exp with at most 19 significant
// digits: every number that fits an int64 or a float64 literal of
// ordinary length, compared without math/big.
type dec struct {
	mant uint64
	exp  int
	neg  bool
	nd   int // digits in mant
}

// maxDecExp bounds the exponent of a dec so comparisons never overflow.
const maxDecExp = 1 << 20

// parseDec parses a JSON number literal (already known to be valid).
// ok is false if it needs more than 19 significant digits or its exponent
// is out of range: the caller then uses math/big.
func parseDec(lit []byte) (dec, bool) {
	var d dec
	i := 0
	if i < len(lit) && lit[i] == '-' {
		d.neg = true
		i++
	}
	exp := 0
	seenDot := false
	for ; i < len(lit); i++ {
		c := lit[i]
		if c == '.' {
			seenDot = true
			continue
		}
		if c < '0' || c > '9' {
			break
		}
		if d.nd == 0 && c == '0' {
			if seenDot {
				exp--
			}
			continue
		}
		if d.nd == 19 {
			return dec{}, false
		}
		d.mant = d.mant*10 + uint64(c-'0')
		d.nd++
		if seenDot {
			exp--
		}
	}
	if i < len(lit) { // e or E
		i++
		eneg := false
		if lit[i] == '+' || lit[i] == '-' {
			eneg = lit[i] == '-'
			i++
		}
		e := 0
		for ; i < len(lit); i++ {
			e = e*10 + int(lit[i]-'0')
			if e > maxDecExp {
				return dec{}, false
			}
		}
		if eneg {
			e = -e
		}
		exp += e
	}
	if d.mant == 0 {
		return dec{}, true
	}
	for d.mant%10 == 0 {
		d.mant /= 10
		d.nd--
		exp++
	}
	if exp > maxDecExp || exp < -maxDecExp {
		return dec{}, false
	}
	d.exp = exp
	return d, true
}

func (d dec) isInt() bool { return d.mant == 0 || d.exp >= 0 }

var pow10 = func() (p [20]uint64) {
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return
}()

// cmpDec compares a and b exactly (-1, 0, 1).
func cmpDec(a, b dec) int {
	sa, sb := a.sign(), b.sign()
	if sa != sb {
		if sa < sb {
			return -1
		}
		return 1
	}
	if sa == 0 {
		return 0
	}
	m := cmpMag(a, b)
	if sa < 0 {
		return -m
	}
	return m
}

func (d dec) sign() int {
	switch {
	case d.mant == 0:
		return 0
	case d.neg:
		return -1
	}
	return 1
}

func cmpMag(a, b dec) int {
	// order: the power of ten of the leading digit
	oa, ob := a.exp+a.nd, b.exp+b.nd
	if oa != ob {
		if oa < ob {
			return -1
		}
		return 1
	}
	ma, mb := a.mant, b.mant
	if a.nd < b.nd {
		ma *= pow10[b.nd-a.nd]
	} else {
		mb *= pow10[a.nd-b.nd]
	}
	switch {
	case ma < mb:
		return -1
	case ma > mb:
		return 1
	}
	return 0
}

// inBounds reports whether the number literal lit (parsed as d, unless
// isBig) meets every bound of bs. A number or bound that does not fit a
// dec is compared as a big.Rat, exactly as the library does; ok is false
// if lit cannot be read as one (the library then decides).
func inBounds(bs []bound, d dec, lit []byte, isBig bool) (in, ok bool) {
	var r *big.Rat
	for i := range bs {
		b := &bs[i]
		var c int
		if !isBig && !b.big {
			c = cmpDec(d, b.d)
		} else {
			if r == nil {
				if r, ok = new(big.Rat).SetString(string(lit)); !ok {
					return false, false
				}
			}
			c = r.Cmp(b.rat)
		}
		if !holds(b.op, c) {
			return false, true
		}
	}
	return true, true
}
