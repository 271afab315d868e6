package validation

import (
	"bytes"
	"encoding/binary"
	"math/big"
	"sync"
)

// onePass checks a JSON body against a compiled schema (compiled.go) in
// one pass over its bytes, with the limits and well-formedness rules of
// ParseJSON, building nothing. It only answers "valid"; false means
// "not shown valid here" and the caller validates again with ParseJSON
// and the library, which word the errors.
type onePass struct {
	scanner
	lim     Limits
	keys    []byte // keys of the open objects that are not declared properties
	keyEnds []int
	host    []byte // the last hostname of an email found valid in this body
}

var onePasses = sync.Pool{New: func() any { return new(onePass) }}

// anyNode is the empty schema (everything valid).
var anyNode = newNode()

// accepts reports whether data is one JSON document within lim that n
// accepts.
func (n *cnode) accepts(data []byte, lim Limits) bool {
	p := onePasses.Get().(*onePass)
	p.data, p.pos, p.lim = data, 0, lim
	p.keys, p.keyEnds, p.host = p.keys[:0], p.keyEnds[:0], p.host[:0]
	end := p.value(n, skipWS(data, 0), 0)
	ok := end >= 0 && skipWS(data, end) == len(data)
	p.data = nil
	onePasses.Put(p)
	return ok
}

// The steps below read the value at data[i] and return the position
// after it, or -1 if it is not shown valid (no step reads on from -1).

func (p *onePass) value(n *cnode, i, depth int) int {
	data := p.data
	if n.never || i >= len(data) {
		return -1
	}
	// strings and numbers first: most values are
	switch c := data[i]; {
	case c == '"':
		// onePass.str, its plain ASCII case inlined by hand
		s, runes, end := []byte(nil), 0, plainEnd(data, i+1)
		if end < len(data) && data[end] == '"' {
			s, runes, end = data[i+1:end], end-i-1, end+1
		} else if s, runes, end = p.strFrom(i, end); end < 0 {
			return -1
		}
		// minLen is -1 when there is none: no rune count is below it
		if !n.allows(tString) || runes < n.minLen || n.maxLen >= 0 && runes > n.maxLen ||
			(n.email || n.hasEnu) && !n.checkString(s, &p.host) {
			return -1
		}
		return end
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number(n, i)
	case c == '{':
		if !n.allows(tObject) || n.hasEnu {
			return -1
		}
		return p.object(n, i, depth+1)
	case c == '[':
		if !n.allows(tArray) || n.hasEnu {
			return -1
		}
		return p.array(n, i, depth+1)
	case c == 't':
		return n.literal(data, i, "true", primitive{kind: tBool, b: true})
	case c == 'f':
		return n.literal(data, i, "false", primitive{kind: tBool})
	case c == 'n':
		return n.literal(data, i, "null", primitive{kind: tNull})
	}
	return -1
}

// literal reads true, false or null (v) at data[i].
func (n *cnode) literal(data []byte, i int, word string, v primitive) int {
	if !hasLit(data, i, word) || !n.allows(v.kind) || !n.inEnum(v) {
		return -1
	}
	return i + len(word)
}

func (n *cnode) allows(t uint8) bool { return n.types == 0 || n.types&t != 0 }

func (n *cnode) inEnum(v primitive) bool {
	if !n.hasEnu {
		return true
	}
	for _, e := range n.enum {
		if e.kind == v.kind && (v.kind == tNull || v.kind == tBool && e.b == v.b) {
			return true
		}
	}
	return false
}

// checkString reports whether the string s meets n's format and enum;
// host is validEmail's known hostname. (value checks the length.)
func (n *cnode) checkString(s []byte, host *[]byte) bool {
	if n.email && !validEmail(s, host) {
		return false
	}
	if n.hasEnu {
		for _, e := range n.enum {
			if e.kind == tString && e.s == string(s) {
				return true
			}
		}
		return false
	}
	return true
}

func (p *onePass) number(n *cnode, i int) int {
	if n.types != 0 && n.types&(tNumber|tInteger) == 0 {
		return -1
	}
	data := p.data
	if !n.hasEnu {
		// The common case, an integer of at most 18 digits (it fits an
		// int64 exactly), read as it is scanned: no literal, no dec.
		j := i
		if data[j] == '-' {
			j++
		}
		start := j
		var v int64
		for end := min(len(data), start+19); j < end; j++ {
			c := data[j] - '0'
			if c > 9 {
				break
			}
			v = v*10 + int64(c)
		}
		if nd := j - start; nd >= 1 && nd <= 18 && (nd == 1 || data[start] != '0') &&
			(j == len(data) || data[j] != '.' && data[j] != 'e' && data[j] != 'E') {
			if data[i] == '-' {
				v = -v
			}
			if n.intBounds {
				if v < n.intLo || v > n.intHi {
					return -1
				}
				return j
			}
		}
	}
	end, ok := numberEnd(data, i)
	if !ok || !n.numberOK(data[i:end]) {
		return -1
	}
	return end
}

// numberOK reports whether n accepts the number literal lit.
func (n *cnode) numberOK(lit []byte) bool {
	if !numberInRange(lit) {
		return false
	}
	intOnly := n.types != 0 && n.types&tNumber == 0
	if !intOnly && len(n.bounds) == 0 && !n.hasEnu {
		return true
	}
	d, fits := parseDec(lit)
	var r *big.Rat
	if !fits {
		// Beyond 19 digits: exact, as the library does it.
		var ok bool
		if r, ok = new(big.Rat).SetString(string(lit)); !ok {
			return false
		}
	}
	if intOnly && (fits && !d.isInt() || !fits && !r.IsInt()) {
		return false
	}
	if in, ok := inBounds(n.bounds, d, lit, !fits); !in || !ok {
		return false
	}
	if n.hasEnu {
		for _, e := range n.enum {
			if e.kind != tNumber {
				continue
			}
			if fits && !e.num.big && cmpDec(d, e.num.d) == 0 {
				return true
			}
			if (!fits || e.num.big) && ratOf(r, lit).Cmp(e.num.rat) == 0 {
				return true
			}
		}
		return false
	}
	return true
}

func ratOf(r *big.Rat, lit []byte) *big.Rat {
	if r != nil {
		return r
	}
	r, _ = new(big.Rat).SetString(string(lit))
	return r
}

func (p *onePass) depthOK(depth int) bool {
	return p.lim.MaxDepth <= 0 || depth <= p.lim.MaxDepth
}

func (p *onePass) object(n *cnode, i, depth int) int {
	if !p.depthOK(depth) {
		return -1
	}
	firstKey, keyStart := len(p.keyEnds), len(p.keys)
	end := p.members(n, i, depth, firstKey, keyStart)
	p.keys, p.keyEnds = p.keys[:keyStart], p.keyEnds[:firstKey]
	return end
}

// members reads an object's members, the '{' at data[i]; its undeclared
// keys are recorded from firstKey and keyStart on.
func (p *onePass) members(n *cnode, i, depth, firstKey, keyStart int) int {
	data := p.data
	var seen uint64
	// refused: the declared props whose keys the limits refuse
	var refused uint64
	if p.lim.RejectDollarKeys {
		refused |= n.dollarKeys
	}
	if p.lim.RejectDottedKeys {
		refused |= n.dottedKeys
	}
	count := 0
	var others map[string]struct{} // once an object has many undeclared keys
	i = skipWS(data, i+1)
	if i < len(data) && data[i] == '}' {
		if !n.objectDone(seen, 0) {
			return -1
		}
		return i + 1
	}
	for {
		i = skipWS(data, i)
		if i >= len(data) || data[i] != '"' {
			return -1
		}
		count++
		if p.lim.MaxKeys > 0 && count > p.lim.MaxKeys {
			return -1
		}
		var sub *cnode
		idx, end := -1, 0
		if n.byFirst != nil && len(data)-i >= 9 {
			// The one short name that can match, and its closing quote,
			// in one compare of a word (written here, not called: a call per
			// key was measured).
			w := binary.LittleEndian.Uint64(data[i+1:])
			if k := n.byFirst[uint8(w)]; k == multiKey {
				idx, end = n.rawKeyScan(data, i)
			} else if k != 0 {
				if pr := &n.props[k-1]; w&pr.kmask == pr.kword {
					idx, end = int(k-1), i+len(pr.name)+2
				}
			}
		} else {
			idx, end = n.rawKeyScan(data, i)
		}
		if idx < 0 {
			var key []byte
			if key, _, end = p.str(i); end < 0 {
				return -1
			}
			if idx = n.find(key); idx < 0 {
				if p.lim.RejectDollarKeys && len(key) > 0 && key[0] == '$' ||
					p.lim.RejectDottedKeys && bytes.IndexByte(key, '.') >= 0 ||
					!p.newKey(key, firstKey, keyStart, &others) {
					return -1 // refused or a duplicate
				}
				if sub = n.additional; sub == nil {
					sub = anyNode
				}
			}
		}
		if idx >= 0 {
			bit := uint64(1) << (uint(idx) & 63) // idx < maxFastProps
			if (seen|refused)&bit != 0 {
				return -1 // a duplicate or refused
			}
			seen |= bit
			sub = n.props[idx].sub
		}
		i = skipWS(data, end)
		if i >= len(data) || data[i] != ':' {
			return -1
		}
		if i = p.value(sub, skipWS(data, i+1), depth); i < 0 {
			return -1
		}
		more := false
		if i, more = afterMember(data, i, '}'); i < 0 {
			return -1
		}
		if !more {
			if !n.objectDone(seen, count) {
				return -1
			}
			return i
		}
	}
}

// newKey records an undeclared key of the object whose keys start at
// firstKey, reporting false if it was already there.
func (p *onePass) newKey(key []byte, firstKey, keyStart int, others *map[string]struct{}) bool {
	if *others != nil {
		if _, dup := (*others)[string(key)]; dup {
			return false
		}
		(*others)[string(key)] = struct{}{}
		return true
	}
	from := keyStart
	for _, end := range p.keyEnds[firstKey:] {
		if string(p.keys[from:end]) == string(key) {
			return false
		}
		from = end
	}
	p.keys = append(p.keys, key...)
	p.keyEnds = append(p.keyEnds, len(p.keys))
	if len(p.keyEnds)-firstKey > 16 {
		// Many undeclared keys: a set keeps the check linear.
		m := make(map[string]struct{}, 32)
		from := keyStart
		for _, end := range p.keyEnds[firstKey:] {
			m[string(p.keys[from:end])] = struct{}{}
			from = end
		}
		*others = m
	}
	return true
}

// rawKeyScan matches a declared name written without escapes at
// data[pos] (a '"'): its index and the position after its closing quote,
// or -1. members tries the one short name of the key's first byte first.
func (n *cnode) rawKeyScan(data []byte, pos int) (idx, end int) {
	rest := data[pos+1:]
	for i := range n.props {
		name := n.props[i].name
		if n.props[i].raw && len(rest) > len(name) && rest[len(name)] == '"' && rest[0] == name[0] && string(rest[:len(name)]) == name {
			return i, pos + len(name) + 2
		}
	}
	return -1, 0
}

func (n *cnode) find(key []byte) int {
	for i := range n.props {
		// length and first byte before the comparison call
		if name := n.props[i].name; len(name) == len(key) && (len(key) == 0 || name[0] == key[0]) && name == string(key) {
			return i
		}
	}
	return -1
}

func (n *cnode) objectDone(seen uint64, count int) bool {
	return seen&n.reqMask == n.reqMask &&
		(n.minProps < 0 || count >= n.minProps) && (n.maxProps < 0 || count <= n.maxProps)
}

func (p *onePass) array(n *cnode, i, depth int) int {
	if !p.depthOK(depth) {
		return -1
	}
	data := p.data
	items := n.items
	if items == nil {
		items = anyNode
	}
	count := 0
	if i = skipWS(data, i+1); i < len(data) && data[i] == ']' {
		i++
	} else {
		for more := true; more; {
			count++
			if p.lim.MaxKeys > 0 && count > p.lim.MaxKeys {
				return -1
			}
			if i = p.value(items, skipWS(data, i), depth); i < 0 {
				return -1
			}
			if i, more = afterMember(data, i, ']'); i < 0 {
				return -1
			}
		}
	}
	if n.minItems >= 0 && count < n.minItems || n.maxItems >= 0 && count > n.maxItems {
		return -1
	}
	return i
}

// str reads the string literal at data[i]: its decoded bytes (valid
// until the next call), their rune count, and the position after it, or
// -1 unless it is a good string (well-formed, UTF-8, no control
// characters if refused).
func (p *onePass) str(i int) (s []byte, runes, end int) {
	data := p.data
	j := plainEnd(data, i+1)
	if j < len(data) && data[j] == '"' {
		return data[i+1 : j], j - i - 1, j + 1
	}
	return p.strFrom(i, j)
}

// strFrom is str once the bytes of the string at data[i] are known to be
// plain ASCII up to j.
func (p *onePass) strFrom(i, j int) (s []byte, runes, end int) {
	p.pos = i + 1
	s, ascii, f := p.scanner.strFrom(j)
	if f != faultNone {
		return nil, 0, -1
	}
	if ascii {
		return s, len(s), p.pos
	}
	runes, ok := textRunes(s, p.lim.RejectControlChars)
	if !ok {
		return nil, 0, -1
	}
	return s, runes, p.pos
}
