package validation

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/apigw/caddy-apigw/authn"
	"github.com/apigw/caddy-apigw/problem"
)

// The checks of the admin API's requests (keys, revocations, sessions):
// each turns a decoded body or query into the domain call's arguments or
// a validation failure naming the fields, never echoing client input.

// MaxAdminBody is the largest request body the admin routes read (413
// payload_too_large beyond it).
const MaxAdminBody = 64 << 10

// adminInvalid is the detail of the admin API's validation failures.
const adminInvalid = "the request body or query is invalid"

// AdminFailed is an admin API validation failure with the field errors.
func AdminFailed(fields ...problem.FieldError) error { return Failed(adminInvalid, fields...) }

// AdminBody is what the admin routes take as a body: one JSON object
// (no unknown members) of at most MaxAdminBody bytes, typed
// application/json, any application/*+json (PATCH takes
// application/merge-patch+json; application/json-patch+json, RFC 6902,
// is refused since its semantics differ), none, or curl's default for
// -d, application/x-www-form-urlencoded: the body must still be JSON, and
// Caddy's admin origin checks keep browsers' cross-site form posts out.
var AdminBody = BodyRules{
	Max:        MaxAdminBody,
	MediaTypes: []string{"application/json", "application/*+json", "application/x-www-form-urlencoded"},
	Refused:    []string{"application/json-patch+json"},
	Missing:    TypeOptional,
	Charset:    CharsetAny,
	Strict:     true,
	TypeFirst:  true,
	Words: BodyWords{
		MediaType:      "send Content-Type: application/json (or application/merge-patch+json for PATCH)",
		TooLarge:       func(limit int64) string { return fmt.Sprintf("the body is larger than %d bytes", limit) },
		Empty:          "the body is empty; send a JSON object",
		Syntax:         "malformed JSON at byte %d",
		Truncated:      "malformed JSON: the body ends early",
		Trailing:       "malformed JSON: data after the object",
		NotObjectField: "the body must be a JSON object",
		FieldType:      "must be %[2]s",
		Invalid:        adminInvalid,
		Undecodable:    "the body could not be read as JSON",
	},
}

// KeyRequest is the body of POST /apigw/keys.
type KeyRequest struct {
	User       string            `json:"user"`
	ID         string            `json:"id"`
	Scopes     []string          `json:"scopes"`
	Roles      []string          `json:"roles"`
	Metadata   map[string]string `json:"metadata"`
	AllowCIDRs []string          `json:"allow_cidr"`
	// Expires is an RFC 3339 time, a duration from now ("720h") or
	// seconds since 1970 (as a JWT exp).
	Expires json.RawMessage `json:"expires"`
}

// NewKey checks the request and returns the key to create.
func (req *KeyRequest) NewKey(now time.Time) (authn.NewKey, error) {
	var fe []problem.FieldError
	if !PrintableText(req.User, 256) {
		fe = append(fe, problem.FieldError{Field: "/user", Rule: "required", Message: "user must be 1-256 printable characters"})
	}
	if req.ID != "" && !authn.ValidKeyID(req.ID) {
		fe = append(fe, problem.FieldError{Field: "/id", Rule: "pattern", Message: "id must be 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit"})
	}
	fe = checkKeyFields(fe, req.Scopes, req.Roles, req.Metadata, req.AllowCIDRs)
	var expires time.Time
	if len(req.Expires) > 0 && string(req.Expires) != "null" && string(req.Expires) != `""` {
		t, err := parseExpiry(req.Expires, now)
		if err != nil {
			fe = append(fe, problem.FieldError{Field: "/expires", Rule: "format", Message: err.Error()})
		} else {
			expires = t
		}
	}
	if len(fe) > 0 {
		return authn.NewKey{}, AdminFailed(fe...)
	}
	return authn.NewKey{ID: req.ID, User: req.User, Scopes: req.Scopes, Roles: req.Roles,
		Metadata: req.Metadata, AllowCIDRs: canonicalCIDRs(req.AllowCIDRs), Expires: expires}, nil
}

// KeyListQuery checks the query of GET /apigw/keys (user, size, after)
// and returns the listing's arguments.
func KeyListQuery(q url.Values) (user, after string, size int, err error) {
	var fe []problem.FieldError
	for name := range q {
		if name != "user" && name != "size" && name != "after" {
			fe = append(fe, problem.FieldError{Field: "query/" + safeName(name), Rule: "additionalProperties", Message: "unknown query parameter; known: user, size, after"})
		}
	}
	for _, name := range []string{"user", "size", "after"} {
		if len(q[name]) > 1 {
			fe = append(fe, problem.FieldError{Field: "query/" + name, Rule: "maxItems", Message: "give " + name + " at most once"})
		}
	}
	user = q.Get("user")
	if q.Has("user") && !PrintableText(user, 256) {
		fe = append(fe, problem.FieldError{Field: "query/user", Rule: "pattern", Message: "user must be 1-256 printable characters"})
	}
	size = authn.DefaultKeyPage
	if q.Has("size") {
		n, err := strconv.Atoi(q.Get("size"))
		if err != nil || n < 1 || n > authn.MaxKeyPage {
			fe = append(fe, problem.FieldError{Field: "query/size", Rule: "maximum", Message: "size must be an integer from 1 to " + strconv.Itoa(authn.MaxKeyPage)})
		}
		size = n
	}
	if q.Has("after") {
		id, err := authn.KeyCursorID(q.Get("after"))
		if err != nil || !PrintableText(id, 256) {
			fe = append(fe, problem.FieldError{Field: "query/after", Rule: "format", Message: "after must be the next cursor of a previous page"})
		}
		after = id
	}
	if len(fe) > 0 {
		sort.Slice(fe, func(i, j int) bool { return fe[i].Field < fe[j].Field })
		return "", "", 0, AdminFailed(fe...)
	}
	return user, after, size, nil
}

// checkKeyFields checks the lists and metadata of a created or patched key.
func checkKeyFields(fe []problem.FieldError, scopes, roles []string, md map[string]string, cidrs []string) []problem.FieldError {
	for _, l := range []struct {
		field string
		vals  []string
	}{{"scopes", scopes}, {"roles", roles}} {
		if len(l.vals) > 64 {
			fe = append(fe, problem.FieldError{Field: "/" + l.field, Rule: "maxItems", Message: "at most 64 " + l.field})
		}
		for i, v := range l.vals {
			if !PrintableText(v, 128) || strings.ContainsFunc(v, unicode.IsSpace) {
				fe = append(fe, problem.FieldError{Field: "/" + l.field + "/" + strconv.Itoa(i), Rule: "pattern", Message: "each entry is 1-128 printable characters without spaces"})
			}
		}
	}
	if len(md) > 64 {
		fe = append(fe, problem.FieldError{Field: "/metadata", Rule: "maxProperties", Message: "at most 64 metadata entries"})
	}
	for _, k := range slices.Sorted(maps.Keys(md)) {
		if v := md[k]; !PrintableText(k, 64) || (v != "" && !PrintableText(v, 1024)) {
			fe = append(fe, problem.FieldError{Field: "/metadata/" + safeName(k), Rule: "pattern", Message: "metadata names are 1-64 and values 0-1024 printable characters"})
		}
	}
	if len(cidrs) > 64 {
		fe = append(fe, problem.FieldError{Field: "/allow_cidr", Rule: "maxItems", Message: "at most 64 CIDRs"})
	}
	for i, c := range cidrs {
		if _, ok := canonicalCIDR(c); !ok {
			fe = append(fe, problem.FieldError{Field: "/allow_cidr/" + strconv.Itoa(i), Rule: "format", Message: "must be a CIDR such as 10.0.0.0/8 or 2001:db8::/32, or one address"})
		}
	}
	return fe
}

// canonicalCIDR returns a CIDR or single address in canonical CIDR form.
func canonicalCIDR(s string) (string, bool) {
	p, err := authn.ParseAllowCIDR(s)
	if err != nil {
		return "", false
	}
	return p.String(), true
}

// canonicalCIDRs returns the CIDRs (already checked) in canonical form.
func canonicalCIDRs(cidrs []string) []string {
	if len(cidrs) == 0 {
		return nil
	}
	out := make([]string, 0, len(cidrs))
	for _, c := range cidrs {
		if p, ok := canonicalCIDR(c); ok {
			out = append(out, p)
		}
	}
	return out
}

// safeName returns a client-given name for a problem's field pointer, or
// "?" when it is not short printable text (it is never echoed raw).
func safeName(s string) string {
	if !PrintableText(s, 64) {
		return "?"
	}
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
}

// Grace reads the grace period of POST /apigw/keys/{id}/rotate
// ({"grace"?}: a Go duration string or seconds, from 0 to
// authn.MaxRotateGrace; absent or null: 0).
func Grace(raw json.RawMessage) (time.Duration, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	const form = "grace must be a duration such as \"5s\" or \"1h\", or seconds, from 0 to 720h"
	bad := AdminFailed(problem.FieldError{Field: "/grace", Rule: "format", Message: form})
	var d time.Duration
	var s string
	var n json.Number
	switch {
	case json.Unmarshal(raw, &s) == nil:
		v, err := time.ParseDuration(s)
		if err != nil {
			return 0, bad
		}
		d = v
	case json.Unmarshal(raw, &n) == nil:
		f, err := n.Float64()
		if err != nil || f > authn.MaxRotateGrace.Seconds() {
			return 0, bad
		}
		d = time.Duration(f * float64(time.Second))
	default:
		return 0, bad
	}
	if d < 0 || d > authn.MaxRotateGrace {
		return 0, bad
	}
	return d, nil
}

// Revocation checks the body of POST /apigw/revocations ({"jti","exp"?}:
// exp is the token's expiry, a JWT NumericDate or RFC 3339, after which
// the revocation may be dropped) and returns the expiry (zero: unknown).
func Revocation(jti string, exp json.RawMessage, now time.Time) (time.Time, error) {
	var fe []problem.FieldError
	if !PrintableText(jti, 256) {
		fe = append(fe, problem.FieldError{Field: "/jti", Rule: "required", Message: "jti must be 1-256 printable characters"})
	}
	var t time.Time
	if len(exp) > 0 && string(exp) != "null" {
		v, err := parseNumericDate(exp)
		switch {
		case err != nil:
			fe = append(fe, problem.FieldError{Field: "/exp", Rule: "format", Message: err.Error()})
		case !v.After(now):
			fe = append(fe, problem.FieldError{Field: "/exp", Rule: "minimum", Message: "exp is in the past: such a token is refused anyway"})
		default:
			t = v
		}
	}
	if len(fe) > 0 {
		return time.Time{}, AdminFailed(fe...)
	}
	return t, nil
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

// errNumericDate is the message of an exp that is no date.
var errNumericDate = errors.New("exp must be seconds since 1970 (a JWT NumericDate) or an RFC 3339 time")

// parseNumericDate reads a JWT NumericDate (seconds since the epoch) or an
// RFC 3339 string.
func parseNumericDate(raw json.RawMessage) (time.Time, error) {
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		if f, err := n.Float64(); err == nil && f > 0 && f < 1e11 {
			sec := int64(f)
			return time.Unix(sec, int64((f-float64(sec))*1e9)).UTC(), nil
		}
		return time.Time{}, errNumericDate
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errNumericDate
}

// SessionUser checks the ?user= of /apigw/sessions: GET without it lists
// every session; DELETE needs it (ending every session of every user by
// mistake is too easy otherwise).
func SessionUser(q url.Values, required bool) (string, error) {
	user := q.Get("user")
	if (q.Has("user") || required) && (!PrintableText(user, 256) || len(q["user"]) > 1) {
		return "", AdminFailed(problem.FieldError{Field: "query/user", Rule: "required", Message: "give exactly one user: ?user=<id>"})
	}
	return user, nil
}

// KeyPatch checks a JSON merge patch (RFC 7396) of a runtime key (the
// body of PATCH /apigw/keys/{id}). The patchable members are scopes,
// roles, allow_cidr (arrays, replaced whole; null clears), metadata (an
// object merged member by member; a null member removes it, a null
// metadata clears it) and expires (as at creation; null: never). id,
// user, created, source and revoked are read-only; anything else is an
// unknown field.
func KeyPatch(patch map[string]json.RawMessage, now time.Time) (*authn.KeyPatch, error) {
	if patch == nil { // the body was JSON null: RFC 7396 would delete the target
		return nil, AdminFailed(problem.FieldError{Field: "", Rule: "type", Message: "the body must be a JSON object (a merge patch)"})
	}
	var (
		fe []problem.FieldError
		p  authn.KeyPatch
	)
	lists := map[string]**[]string{"scopes": &p.Scopes, "roles": &p.Roles, "allow_cidr": &p.AllowCIDRs}
	for _, name := range slices.Sorted(maps.Keys(patch)) {
		raw := patch[name]
		isNull := string(raw) == "null"
		switch name {
		case "scopes", "roles", "allow_cidr":
			list := []string{}
			if !isNull && json.Unmarshal(raw, &list) != nil {
				fe = append(fe, problem.FieldError{Field: "/" + name, Rule: "type", Message: "must be an array of strings or null"})
				continue
			}
			*lists[name] = &list
		case "metadata":
			if isNull {
				p.ClearMetadata = true
				continue
			}
			if err := json.Unmarshal(raw, &p.Metadata); err != nil || p.Metadata == nil {
				fe = append(fe, problem.FieldError{Field: "/metadata", Rule: "type", Message: "must be an object of strings (null removes a member) or null"})
			}
		case "expires":
			if isNull || string(raw) == `""` {
				p.ClearExpires = true
				continue
			}
			t, err := parseExpiry(raw, now)
			if err != nil {
				fe = append(fe, problem.FieldError{Field: "/expires", Rule: "format", Message: err.Error()})
				continue
			}
			p.Expires = t
		case "id", "user", "created", "source", "revoked":
			fe = append(fe, problem.FieldError{Field: "/" + name, Rule: "readOnly", Message: "cannot be changed; create a new key instead"})
		default:
			fe = append(fe, problem.FieldError{Field: "/" + safeName(name), Rule: "additionalProperties", Message: "unknown field"})
		}
	}
	var md map[string]string
	for k, v := range p.Metadata {
		if v != nil {
			if md == nil {
				md = map[string]string{}
			}
			md[k] = *v
		}
	}
	fe = checkKeyFields(fe, deref(p.Scopes), deref(p.Roles), md, deref(p.AllowCIDRs))
	if len(fe) > 0 {
		return nil, AdminFailed(fe...)
	}
	if p.AllowCIDRs != nil {
		c := canonicalCIDRs(*p.AllowCIDRs)
		p.AllowCIDRs = &c
	}
	return &p, nil
}

func deref(p *[]string) []string {
	if p == nil {
		return nil
	}
	return *p
}
