package httpsig

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"

	"github.com/dunglas/httpsfv"
)

// Request is the part of an HTTP request that signatures cover, as the
// server received it (before any rewrite).
type Request struct {
	// Method is the request method, as sent.
	Method string
	// Scheme is "http" or "https".
	Scheme string
	// Authority is the Host (HTTP/1.1) or :authority (HTTP/2, 3) value.
	Authority string
	// RequestURI is the request target exactly as sent (origin form
	// "/path?query", or absolute form).
	RequestURI string
	// Header holds the request's header fields.
	Header http.Header
}

// structuredFields lists the fields whose structured type (RFC 8941) is
// known, so that a component with ;sf can be re-serialized strictly.
var structuredFields = map[string]string{
	"accept-signature":    "dictionary",
	"signature":           "dictionary",
	"signature-input":     "dictionary",
	"content-digest":      "dictionary",
	"repr-digest":         "dictionary",
	"want-content-digest": "dictionary",
	"want-repr-digest":    "dictionary",
	"priority":            "dictionary",
	"example-dict":        "dictionary", // RFC 9421's examples
	"cache-status":        "list",
	"proxy-status":        "list",
	"accept-ch":           "list",
	"example-list":        "list",
}

// Base returns the signature base of s over req (RFC 9421 §2.5): one line
// per covered component, then the "@signature-params" line. Duplicate
// components, unknown derived components, absent fields and parameters
// the verifier cannot honour are errors.
func Base(req *Request, s *Signature) ([]byte, error) {
	if req.RequestURI == "" {
		return nil, invalid("the request has no request target")
	}
	// the origin form ("/path?query", the usual case) is used as sent;
	// only an absolute-form target is parsed
	var abs *url.URL
	if req.RequestURI[0] != '/' {
		u, err := url.ParseRequestURI(req.RequestURI)
		if err != nil || !u.IsAbs() {
			return nil, invalid("the request target cannot be parsed")
		}
		abs = u
	}
	b := make([]byte, 0, 512)
	var ids [MaxComponents]string
	for i, c := range s.Components {
		id, err := componentID(c)
		if err != nil {
			return nil, invalid(fmt.Sprintf("Signature-Input: component #%d cannot be serialized", i+1))
		}
		for _, prev := range ids[:i] {
			if prev == id {
				return nil, invalid(fmt.Sprintf("Signature-Input: component #%d is covered twice (RFC 9421 §2.5)", i+1))
			}
		}
		ids[i] = id
		name := c.Value.(string)
		if name == "@signature-params" {
			return nil, invalid("Signature-Input: @signature-params must not be listed as a covered component")
		}
		var value string
		if name[0] == '@' {
			value, err = derived(req, name, c.Params, abs)
		} else {
			value, err = field(req.Header, name, c.Params)
		}
		if err != nil {
			return nil, err
		}
		b = append(b, id...)
		b = append(b, ": "...)
		b = append(b, value...)
		b = append(b, '\n')
	}
	params, err := httpsfv.Marshal(httpsfv.InnerList{Items: s.Components, Params: s.Params})
	if err != nil {
		return nil, invalid("Signature-Input: the signature parameters cannot be serialized")
	}
	b = append(b, `"@signature-params": `...)
	b = append(b, params...)
	return b, nil
}

// componentID serializes a component identifier. A name without
// parameters, quotes, backslashes or non-printable bytes is the common
// case and needs no structured-field serializer: it is the name in
// double quotes.
func componentID(c httpsfv.Item) (string, error) {
	name := c.Value.(string)
	if c.Params == nil || len(c.Params.Names()) == 0 {
		plain := true
		for i := 0; i < len(name); i++ {
			if ch := name[i]; ch == '"' || ch == '\\' || ch < 0x20 || ch > 0x7e {
				plain = false
				break
			}
		}
		if plain {
			return `"` + name + `"`, nil
		}
	}
	return httpsfv.Marshal(c)
}

// checkParams refuses component parameters other than the allowed ones.
func checkParams(p *httpsfv.Params, component string, allowed ...string) error {
	if p == nil {
		return nil
	}
	for _, n := range p.Names() {
		switch n {
		case "req":
			return invalid(fmt.Sprintf("component %s: the req parameter applies to response signatures only", quoteName(component)))
		case "tr":
			return invalid(fmt.Sprintf("component %s: trailer fields (tr) are not supported", quoteName(component)))
		}
		ok := false
		for _, a := range allowed {
			ok = ok || a == n
		}
		if !ok {
			return invalid(fmt.Sprintf("component %s has a parameter the gateway does not support", quoteName(component)))
		}
	}
	return nil
}

// quoteName quotes a component name for a detail; names of unknown
// components are not repeated (they are client input).
func quoteName(name string) string {
	switch name {
	case "@method", "@target-uri", "@authority", "@scheme", "@request-target", "@path", "@query", "@query-param", "@status":
		return `"` + name + `"`
	}
	if _, ok := structuredFields[name]; ok {
		return `"` + name + `"`
	}
	switch name {
	case "content-type", "content-length", "date", "host", "authorization", "digest":
		return `"` + name + `"`
	}
	return "(a header field)"
}

// derived returns the value of a derived component (RFC 9421 §2.2). abs
// is the parsed target when it is in absolute form, else nil.
func derived(req *Request, name string, p *httpsfv.Params, abs *url.URL) (string, error) {
	if name == "@query-param" {
		if err := checkParams(p, name, "name"); err != nil {
			return "", err
		}
	} else if err := checkParams(p, name); err != nil {
		return "", err
	}
	path, query, hasQuery := strings.Cut(req.RequestURI, "?")
	if abs != nil {
		path, query, hasQuery = abs.EscapedPath(), abs.RawQuery, abs.ForceQuery || abs.RawQuery != ""
	}
	switch name {
	case "@method":
		return req.Method, nil
	case "@scheme":
		return strings.ToLower(req.Scheme), nil
	case "@authority":
		return normalizeAuthority(req.Authority, req.Scheme), nil
	case "@target-uri":
		if abs != nil {
			return req.RequestURI, nil
		}
		return strings.ToLower(req.Scheme) + "://" + normalizeAuthority(req.Authority, req.Scheme) + req.RequestURI, nil
	case "@request-target":
		return req.RequestURI, nil
	case "@path":
		if abs != nil && abs.Opaque != "" {
			return "", invalid("the request target has no path")
		}
		if path == "" {
			path = "/"
		}
		return path, nil
	case "@query":
		if hasQuery {
			return "?" + query, nil
		}
		return "?", nil
	case "@query-param":
		return queryParam(query, p)
	case "@status":
		return "", invalid(`component "@status" applies to responses only`)
	}
	return "", invalid("Signature-Input covers a derived component the gateway does not know")
}

// normalizeAuthority lowercases the host and drops the scheme's default
// port (RFC 9110 §4.2.3).
func normalizeAuthority(a, scheme string) string {
	a = strings.ToLower(a)
	switch {
	case strings.EqualFold(scheme, "http") && strings.HasSuffix(a, ":80"):
		return a[:len(a)-3]
	case strings.EqualFold(scheme, "https") && strings.HasSuffix(a, ":443"):
		return a[:len(a)-4]
	}
	return a
}

// queryParam returns the value of "@query-param";name=… (RFC 9421
// §2.2.8): the query is split as application/x-www-form-urlencoded, the
// named parameter (compared in its re-encoded form) must occur exactly
// once, and its value is re-encoded.
func queryParam(rawQuery string, p *httpsfv.Params) (string, error) {
	var want string
	if p != nil {
		if v, ok := p.Get("name"); ok {
			want, _ = v.(string)
		}
	}
	if want == "" {
		return "", invalid(`component "@query-param" needs a name parameter (a string)`)
	}
	found, value := 0, ""
	for _, pair := range strings.Split(rawQuery, "&") {
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		name, err := url.QueryUnescape(k)
		if err != nil {
			return "", invalid("the query string has an invalid percent-encoding")
		}
		if formEncode(name) != want {
			continue
		}
		val, err := url.QueryUnescape(v)
		if err != nil {
			return "", invalid("the query string has an invalid percent-encoding")
		}
		found++
		value = formEncode(val)
	}
	switch found {
	case 0:
		return "", invalid(`a query parameter named by "@query-param" is absent from the request`)
	case 1:
		return value, nil
	}
	return "", invalid(`a query parameter named by "@query-param" occurs more than once (sign "@query" instead)`)
}

// formEncode percent-encodes s with the WHATWG application/x-www-form-
// urlencoded percent-encode set, but spaces as %20, as RFC 9421 §2.2.8
// requires. net/url has no such encoder: QueryEscape writes "+" for a
// space, keeps "~" and escapes "*".
func formEncode(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '*' || c == '-' || c == '.' || c == '_' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// field returns the value of a header field component (RFC 9421 §2.1).
func field(h http.Header, name string, p *httpsfv.Params) (string, error) {
	if err := checkParams(p, name, "sf", "key", "bs"); err != nil {
		return "", err
	}
	lines, ok := h[textproto.CanonicalMIMEHeaderKey(name)]
	if !ok {
		return "", invalid(fmt.Sprintf("component %s is covered but the request has no such header", quoteName(name)))
	}
	var sf, bs bool
	var key string
	if p != nil {
		_, sf = p.Get("sf")
		_, bs = p.Get("bs")
		if v, ok := p.Get("key"); ok {
			if key, ok = v.(string); !ok || key == "" {
				return "", invalid(fmt.Sprintf("component %s: the key parameter must be a string", quoteName(name)))
			}
		}
	}
	if bs && (sf || key != "") {
		return "", invalid(fmt.Sprintf("component %s: bs cannot be combined with sf or key", quoteName(name)))
	}
	switch {
	case bs:
		var b strings.Builder
		for i, l := range lines {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteByte(':')
			b.WriteString(base64.StdEncoding.EncodeToString([]byte(strings.TrimSpace(l))))
			b.WriteByte(':')
		}
		return b.String(), nil
	case key != "":
		d, err := httpsfv.UnmarshalDictionary(lines)
		if err != nil {
			return "", invalid(fmt.Sprintf("component %s: the header is not a structured field dictionary", quoteName(name)))
		}
		m, ok := d.Get(key)
		if !ok {
			return "", invalid(fmt.Sprintf("component %s: the dictionary has no member named by key", quoteName(name)))
		}
		var s string
		if it, ok := m.(httpsfv.Item); ok {
			s, err = httpsfv.Marshal(it)
		} else {
			s, err = httpsfv.Marshal(m.(httpsfv.InnerList))
		}
		if err != nil {
			return "", invalid(fmt.Sprintf("component %s: the member cannot be serialized", quoteName(name)))
		}
		return s, nil
	case sf:
		var v httpsfv.StructuredFieldValue
		var err error
		switch structuredFields[name] {
		case "dictionary":
			v, err = httpsfv.UnmarshalDictionary(lines)
		case "list":
			v, err = httpsfv.UnmarshalList(lines)
		default:
			return "", invalid(fmt.Sprintf("component %s: sf is set but the gateway does not know the field's structured type", quoteName(name)))
		}
		if err != nil {
			return "", invalid(fmt.Sprintf("component %s: the header is not a valid structured field", quoteName(name)))
		}
		s, err := httpsfv.Marshal(v)
		if err != nil {
			return "", invalid(fmt.Sprintf("component %s: the header cannot be re-serialized", quoteName(name)))
		}
		return s, nil
	}
	if len(lines) == 1 {
		return strings.TrimSpace(lines[0]), nil
	}
	var b strings.Builder
	for i, l := range lines {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strings.TrimSpace(l))
	}
	return b.String(), nil
}
