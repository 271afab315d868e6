// Package edge holds the request canonicalisation decisions of the
// gateway's edge: which methods, request targets and headers may pass
// on to the routes and the upstream. A request that the gateway and an
// upstream could read differently (a path the router sees as /open/..;/key
// but a Java upstream as /key, a method `post` that skips a `method POST`
// matcher, a Connection header that makes the proxy drop X-Auth-User) is
// refused or cleaned here, before any route runs.
//
// The package has no Caddy imports; caddymodule's apigw_edge handler
// adapts it. The checks are hand-written byte loops rather than calls to
// net/url or strings helpers: they run on every request and must stay
// under 300 ns with no allocation (BenchmarkCheck*), which url.PathUnescape
// (one string per call) and strings.Split cannot.
package edge

import (
	"net/http"
	"unicode/utf8"

	"github.com/apigw/caddy-apigw/failure"
)

// Options relaxes individual checks. The zero value is the secure
// default: every check on. The JSON names are those of the apigw_edge
// handler's config (and its Caddyfile options, see Set).
type Options struct {
	// AllowSemicolon lets `;` (raw or %3B) through in the path. Path
	// parameters are read by some upstreams (Tomcat, Jetty, Spring) and
	// ignored by the gateway's matchers, so /admin;x passes a check on
	// /admin. A dot segment with parameters (`..;x`) stays refused.
	AllowSemicolon bool `json:"allow_semicolon,omitempty"`
	// AllowEncodedSlash lets %2F (at any decoding level) through in the
	// path: needed by APIs that carry ids such as "a/b" in one segment.
	AllowEncodedSlash bool `json:"allow_encoded_slash,omitempty"`
	// AllowMethodOverride keeps X-HTTP-Method-Override, X-HTTP-Method
	// and X-Method-Override: a client can then make an upstream run
	// another method than the one the gateway's matchers saw.
	AllowMethodOverride bool `json:"allow_method_override,omitempty"`
	// AllowTrailers keeps the client's request trailers (and its Trailer
	// declaration); gateway-owned names are removed from them all the
	// same.
	AllowTrailers bool `json:"allow_trailers,omitempty"`
	// AllowTrace lets TRACE through (refused by default: it reflects the
	// request, credentials included, to whoever can read the answer).
	AllowTrace bool `json:"allow_trace,omitempty"`
	// AllowConnect lets CONNECT through (refused by default: this is not
	// a forward proxy; HTTP/2 extended CONNECT for websockets, RFC 8441,
	// included).
	AllowConnect bool `json:"allow_connect,omitempty"`
}

// Refusal is why a request is refused: a failure of kind
// failure.ErrBadRequest (failure.ErrMethodNotAllowed for TRACE and
// CONNECT) with a detail naming what was refused, never the value. The
// adapter maps the kind to a status and a problem code, as for every
// other domain failure.
type Refusal = failure.Error

func bad(detail string) *Refusal { return failure.New(failure.ErrBadRequest, detail) }

// The refusals are shared values, so a refusal costs no allocation.
var (
	RefuseMethodToken   = bad("the request method is not an upper-case token")
	RefuseTrace         = failure.New(failure.ErrMethodNotAllowed, "the TRACE method is not allowed")
	RefuseConnect       = failure.New(failure.ErrMethodNotAllowed, "the CONNECT method is not allowed")
	RefuseTargetForm    = bad("the request target is not in origin form (absolute, authority and asterisk forms are refused)")
	RefuseSemicolon     = bad("the path contains a ';' path parameter")
	RefuseControl       = bad("the path contains a control character, raw or percent-encoded")
	RefuseBackslash     = bad("the path contains a backslash, raw or percent-encoded")
	RefuseEncodedSlash  = bad("the path contains an encoded slash (%2F)")
	RefuseDotSegment    = bad("the path contains a dot segment, raw or after percent-decoding")
	RefuseBadEscape     = bad("the path contains an invalid percent-encoding")
	RefuseBadUTF8       = bad("the path is not valid UTF-8 after percent-decoding (overlong or broken sequences)")
	RefuseDeepEncoding  = bad("the path is percent-encoded more than three times over")
	RefuseDoubleEncoded = bad("the path is percent-encoded more than once (an encoded '%')")
	RefuseTrailingDot   = bad("a path segment ends in '.' or a space, raw or after percent-decoding")
	RefuseFragment      = bad("the request target contains a fragment")
	RefuseDelimiter     = bad("the path contains an encoded '?' or '#'")
	RefuseSpace         = bad("the path contains a raw space")
	RefuseBodyFraming   = bad("the request body framing is malformed (chunk sizes, line endings or length)")
	RefuseUpgradeH2Conn = bad("the request carries HTTP2-Settings without an allowed upgrade")
	// RefuseRepeatedHeader: a header whose value is one item sent twice.
	RefuseRepeatedHeader = bad("the request repeats Content-Type, Content-Encoding, Origin, Referer or Sec-Fetch-Site, which may appear only once")
)

// Refusals lists every refusal above, for an adapter that prepares its
// answers once.
var Refusals = []*Refusal{
	RefuseMethodToken, RefuseTrace, RefuseConnect, RefuseTargetForm, RefuseSemicolon, RefuseControl,
	RefuseBackslash, RefuseEncodedSlash, RefuseDotSegment, RefuseBadEscape, RefuseBadUTF8,
	RefuseDeepEncoding, RefuseDoubleEncoded, RefuseTrailingDot, RefuseFragment, RefuseDelimiter,
	RefuseSpace, RefuseBodyFraming, RefuseUpgradeH2Conn, RefuseRepeatedHeader,
}

// CheckMethod reports why method is refused, or nil. A method must be
// an RFC 9110 token with no lower-case letter: methods are
// case-sensitive, and an upstream that upper-cases `post` would run a
// POST that the gateway's `method POST` matchers never saw.
func CheckMethod(method string, o Options) *Refusal {
	if method == "" {
		return RefuseMethodToken
	}
	for i := 0; i < len(method); i++ {
		if !upperTokenChar[method[i]] {
			return RefuseMethodToken
		}
	}
	switch method {
	case http.MethodTrace:
		if !o.AllowTrace {
			return RefuseTrace
		}
	case http.MethodConnect:
		if !o.AllowConnect {
			return RefuseConnect
		}
	}
	return nil
}

// upperTokenChar: RFC 9110 tchar without a-z.
var upperTokenChar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// maxDecodings is how many times a path segment is percent-decoded
// while looking for dot segments, slashes and control characters: an
// upstream (or a chain of them) that decodes twice turns %252e into '.'.
// A segment still holding a '%' after this many rounds is refused.
const maxDecodings = 3

// CheckTarget reports why the request target (the raw request URI as
// received, e.g. http.Request.RequestURI) is refused, or nil. Only the
// origin form is accepted, plus `*` for OPTIONS. The path is checked
// segment by segment, raw and after each of up to three
// percent-decodings, for: `;` parameters, control characters and DEL,
// raw spaces, backslashes, encoded slashes, encoded '?' and '#', `.` and `..` segments, invalid
// percent-encodings and invalid UTF-8 (overlong forms included). A
// segment that ends in '.' or a space is refused too (Windows, IIS and
// servers built on their file APIs strip them, so /admin. or /admin%20
// reaches /admin past a check on /admin), and so is a path encoded
// twice over (%2561 is /a to an upstream that decodes twice, but not to
// the gateway's matchers).
func CheckTarget(method, target string, o Options) *Refusal {
	if target == "*" {
		if method == http.MethodOptions {
			return nil
		}
		return RefuseTargetForm
	}
	if len(target) == 0 || target[0] != '/' {
		return RefuseTargetForm
	}
	path := target
	for i := 0; i < len(target); i++ {
		if target[i] == '?' {
			path = target[:i]
			break
		}
		if target[i] == '#' {
			return RefuseFragment
		}
	}
	// a fragment after the query is as wrong as before it
	for i := len(path); i < len(target); i++ {
		if target[i] == '#' {
			return RefuseFragment
		} else if target[i] < 0x20 || target[i] == 0x7f {
			return RefuseControl
		}
	}
	start := 1
	for i := 1; i <= len(path); i++ {
		if i == len(path) || path[i] == '/' {
			if r := checkSegment(path[start:i], o); r != nil {
				return r
			}
			start = i + 1
		}
	}
	return nil
}

// checkSegment checks one raw path segment (no '/').
func checkSegment(seg string, o Options) *Refusal {
	hasPct, nonASCII := false, false
	for i := 0; i < len(seg); i++ {
		switch c := seg[i]; {
		case c < 0x20 || c == 0x7f:
			return RefuseControl
		case c == ' ':
			return RefuseSpace
		case c == '\\':
			return RefuseBackslash
		case c == ';':
			if !o.AllowSemicolon {
				return RefuseSemicolon
			}
		case c == '%':
			hasPct = true
		case c >= 0x80:
			nonASCII = true
		}
	}
	if isDots(seg) {
		return RefuseDotSegment
	}
	if !hasPct {
		if seg != "" && seg[len(seg)-1] == '.' {
			return RefuseTrailingDot
		}
		if nonASCII && !utf8.ValidString(seg) {
			return RefuseBadUTF8
		}
		return nil
	}
	return checkDecoded(seg, o)
}

// checkDecoded percent-decodes seg up to maxDecodings times, checking
// each round; it is apart from checkSegment so segments without a '%'
// (most) do not pay for its stack buffer.
func checkDecoded(seg string, o Options) *Refusal {
	var buf [128]byte
	var cur []byte
	if len(seg) <= len(buf) {
		cur = append(buf[:0], seg...)
	} else {
		cur = []byte(seg) // long segments allocate (rare)
	}
	for round := 0; round < maxDecodings; round++ {
		n, r := decodeInPlace(cur, o)
		if r != nil {
			return r
		}
		cur = cur[:n]
		if r := checkParts(cur); r != nil {
			return r
		}
		if !utf8.Valid(cur) {
			return RefuseBadUTF8
		}
		if !containsPct(cur) {
			if round > 0 {
				// decoded twice and still fine: the two readings
				// differ (%2561 is %61 to the gateway, "a" to such an upstream)
				return RefuseDoubleEncoded
			}
			return nil
		}
	}
	return RefuseDeepEncoding
}

// decodeInPlace percent-decodes b in place (the result is never longer)
// and checks every decoded byte.
func decodeInPlace(b []byte, o Options) (int, *Refusal) {
	w := 0
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c == '%' {
			if i+2 >= len(b) || !isHex(b[i+1]) || !isHex(b[i+2]) {
				return 0, RefuseBadEscape
			}
			c = unhex(b[i+1])<<4 | unhex(b[i+2])
			i += 2
			switch {
			case c < 0x20 || c == 0x7f:
				return 0, RefuseControl
			case c == '\\':
				return 0, RefuseBackslash
			case c == '/':
				if !o.AllowEncodedSlash {
					return 0, RefuseEncodedSlash
				}
			case c == ';':
				if !o.AllowSemicolon {
					return 0, RefuseSemicolon
				}
			case c == '?' || c == '#':
				// an upstream that decodes before it splits the
				// query would route on less than the gateway saw
				return 0, RefuseDelimiter
			}
		}
		b[w] = c
		w++
	}
	return w, nil
}

// isDots reports whether a segment is a dot segment: ".", "..", or one
// of them followed by ';' parameters (Tomcat reads "..;x" as "..").
func isDots(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == ';' {
			s = s[:i]
			break
		}
	}
	return s == "." || s == ".."
}

// checkParts reports whether decoded, split on the slashes an encoded
// slash may have produced, holds a dot segment or a segment ending in
// '.' or a space.
func checkParts(b []byte) *Refusal {
	start := 0
	for i := 0; i <= len(b); i++ {
		if i == len(b) || b[i] == '/' {
			part := b[start:i]
			if isDots(string(part)) {
				return RefuseDotSegment
			}
			if len(part) > 0 && (part[len(part)-1] == '.' || part[len(part)-1] == ' ') {
				return RefuseTrailingDot
			}
			start = i + 1
		}
	}
	return nil
}

func containsPct(b []byte) bool {
	for _, c := range b {
		if c == '%' {
			return true
		}
	}
	return false
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}
