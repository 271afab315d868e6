package caddymodule

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/apigw/caddy-apigw/authn"
	"github.com/apigw/caddy-apigw/problem"
)

// The /apigw/keys routes: list, create, get, patch, rotate and delete API
// keys.

// Bounds of GET /apigw/keys?size=.
const (
	defaultKeyPage = 100
	maxKeyPage     = 1000
)

// maxRotateGrace bounds the grace period of a rotation.
const maxRotateGrace = 30 * 24 * time.Hour

// keyIDRE is the form of an id chosen at creation: it appears in URLs,
// logs and metric-free audit entries.
var keyIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// keyJSON is a key as the admin API shows it: never the key or its hash.
type keyJSON struct {
	ID         string            `json:"id"`
	User       string            `json:"user"`
	Scopes     []string          `json:"scopes"`
	Roles      []string          `json:"roles"`
	Metadata   map[string]string `json:"metadata"`
	AllowCIDRs []string          `json:"allow_cidr"`
	Created    *time.Time        `json:"created"`
	Expires    *time.Time        `json:"expires"`
	Source     string            `json:"source"`
	Revoked    bool              `json:"revoked"`
}

func toKeyJSON(k authn.KeyRecord) keyJSON {
	out := keyJSON{ID: k.ID, User: k.User, Scopes: k.Scopes, Roles: k.Roles, Metadata: k.Metadata, AllowCIDRs: k.AllowCIDRs,
		Created: timePtr(k.Created), Expires: timePtr(k.Expires), Source: k.Source, Revoked: k.Revoked}
	// stable shapes: empty lists and objects rather than null
	if out.Scopes == nil {
		out.Scopes = []string{}
	}
	if out.Roles == nil {
		out.Roles = []string{}
	}
	if out.AllowCIDRs == nil {
		out.AllowCIDRs = []string{}
	}
	if out.Metadata == nil {
		out.Metadata = map[string]string{}
	}
	return out
}

// createKeyRequest is the body of POST /apigw/keys.
type createKeyRequest struct {
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

func (a *AdminAPI) handleKeys(w http.ResponseWriter, r *http.Request) error {
	switch r.Method {
	case http.MethodGet:
		return a.listKeys(w, r)
	case http.MethodPost:
		return a.createKey(w, r)
	default:
		return methodNotAllowed(w, "GET, POST")
	}
}

func (a *AdminAPI) listKeys(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
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
	user := q.Get("user")
	if q.Has("user") && !validText(user, 256) {
		fe = append(fe, problem.FieldError{Field: "query/user", Rule: "pattern", Message: "user must be 1-256 printable characters"})
	}
	size := defaultKeyPage
	if q.Has("size") {
		n, err := strconv.Atoi(q.Get("size"))
		if err != nil || n < 1 || n > maxKeyPage {
			fe = append(fe, problem.FieldError{Field: "query/size", Rule: "maximum", Message: "size must be an integer from 1 to " + strconv.Itoa(maxKeyPage)})
		}
		size = n
	}
	var after string
	if q.Has("after") {
		b, err := base64.RawURLEncoding.DecodeString(q.Get("after"))
		if err != nil || len(b) == 0 || !validText(string(b), 256) {
			fe = append(fe, problem.FieldError{Field: "query/after", Rule: "format", Message: "after must be the next cursor of a previous page"})
		}
		after = string(b)
	}
	if len(fe) > 0 {
		sort.Slice(fe, func(i, j int) bool { return fe[i].Field < fe[j].Field })
		return validationFail(w, fe)
	}
	s := a.svc(w)
	if s == nil {
		return nil
	}
	page, more, err := s.keys.Page(r.Context(), user, after, size)
	if err != nil {
		return adminError(w, r, "listing keys", err)
	}
	out := struct {
		Data []keyJSON `json:"data"`
		Next string    `json:"next,omitempty"`
	}{Data: make([]keyJSON, 0, len(page))}
	for _, k := range page {
		out.Data = append(out.Data, toKeyJSON(k))
	}
	if more {
		out.Next = base64.RawURLEncoding.EncodeToString([]byte(page[len(page)-1].ID))
	}
	return writeJSON(w, http.StatusOK, out)
}

func (a *AdminAPI) createKey(w http.ResponseWriter, r *http.Request) error {
	var req createKeyRequest
	if !decodeBody(w, r, &req) {
		return nil
	}
	var fe []problem.FieldError
	if !validText(req.User, 256) {
		fe = append(fe, problem.FieldError{Field: "/user", Rule: "required", Message: "user must be 1-256 printable characters"})
	}
	if req.ID != "" && !keyIDRE.MatchString(req.ID) {
		fe = append(fe, problem.FieldError{Field: "/id", Rule: "pattern", Message: "id must be 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit"})
	}
	fe = checkKeyFields(fe, req.Scopes, req.Roles, req.Metadata, req.AllowCIDRs)
	var expires time.Time
	if len(req.Expires) > 0 && string(req.Expires) != "null" && string(req.Expires) != `""` {
		t, err := parseExpiry(req.Expires, a.clock())
		if err != nil {
			fe = append(fe, problem.FieldError{Field: "/expires", Rule: "format", Message: err.Error()})
		} else {
			expires = t
		}
	}
	if len(fe) > 0 {
		return validationFail(w, fe)
	}
	s := a.svc(w)
	if s == nil {
		return nil
	}
	rec, key, err := s.keys.Create(r.Context(), authn.NewKey{ID: req.ID, User: req.User, Scopes: req.Scopes, Roles: req.Roles,
		Metadata: req.Metadata, AllowCIDRs: canonicalCIDRs(req.AllowCIDRs), Expires: expires})
	if errors.Is(err, authn.ErrKeyExists) {
		p := problem.New(http.StatusConflict, problem.CodeConflict, "a key with this id exists already; choose another id or leave it out")
		p.Errors = []problem.FieldError{{Field: "/id", Rule: "unique", Message: "a key with this id exists already"}}
		writeProblem(w, p)
		return nil
	}
	if err != nil {
		return adminError(w, r, "creating key", err)
	}
	w.Header().Set("Location", keyLocation(rec.ID))
	w.Header().Set("ETag", rec.ETag())
	return writeJSON(w, http.StatusCreated, map[string]string{"id": rec.ID, "key": key})
}

func keyLocation(id string) string { return "/apigw/keys/" + url.PathEscape(id) }

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
			if !validText(v, 128) || strings.ContainsFunc(v, unicode.IsSpace) {
				fe = append(fe, problem.FieldError{Field: "/" + l.field + "/" + strconv.Itoa(i), Rule: "pattern", Message: "each entry is 1-128 printable characters without spaces"})
			}
		}
	}
	if len(md) > 64 {
		fe = append(fe, problem.FieldError{Field: "/metadata", Rule: "maxProperties", Message: "at most 64 metadata entries"})
	}
	names := make([]string, 0, len(md))
	for k := range md {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if v := md[k]; !validText(k, 64) || (v != "" && !validText(v, 1024)) {
			fe = append(fe, problem.FieldError{Field: "/metadata/" + safeName(k), Rule: "pattern", Message: "metadata names are 1-64 and values 0-1024 printable characters"})
		}
	}
	if len(cidrs) > 64 {
		fe = append(fe, problem.FieldError{Field: "/allow_cidr", Rule: "maxItems", Message: "at most 64 CIDRs"})
	}
	for i, c := range cidrs {
		if _, err := authn.ParseAllowCIDR(c); err != nil {
			fe = append(fe, problem.FieldError{Field: "/allow_cidr/" + strconv.Itoa(i), Rule: "format", Message: "must be a CIDR such as 10.0.0.0/8 or 2001:db8::/32, or one address"})
		}
	}
	return fe
}

// canonicalCIDRs returns the CIDRs (already checked) in canonical form.
func canonicalCIDRs(cidrs []string) []string {
	if len(cidrs) == 0 {
		return nil
	}
	out := make([]string, 0, len(cidrs))
	for _, c := range cidrs {
		if p, err := authn.ParseAllowCIDR(c); err == nil {
			out = append(out, p.String())
		}
	}
	return out
}

// safeName returns a client-given name for a problem's field pointer, or
// "?" when it is not short printable text (it is never echoed raw).
func safeName(s string) string {
	if !validText(s, 64) {
		return "?"
	}
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
}

// handleKey serves /apigw/keys/{id} and /apigw/keys/{id}/rotate.
func (a *AdminAPI) handleKey(w http.ResponseWriter, r *http.Request) error {
	rest := strings.TrimPrefix(r.URL.EscapedPath(), "/apigw/keys/")
	rawID, action, _ := strings.Cut(rest, "/")
	id, err := url.PathUnescape(rawID)
	if err != nil || id == "" || !validText(id, 256) || (action != "" && action != "rotate") {
		return adminFail(w, http.StatusNotFound, problem.CodeNotFound, "no such key")
	}
	if action == "rotate" {
		if r.Method != http.MethodPost {
			return methodNotAllowed(w, "POST")
		}
		return a.rotateKey(w, r, id)
	}
	switch r.Method {
	case http.MethodGet:
		return a.getKey(w, r, id)
	case http.MethodPatch:
		return a.patchKey(w, r, id)
	case http.MethodDelete:
		return a.deleteKey(w, r, id)
	default:
		return methodNotAllowed(w, "GET, PATCH, DELETE")
	}
}

func (a *AdminAPI) getKey(w http.ResponseWriter, r *http.Request, id string) error {
	s := a.svc(w)
	if s == nil {
		return nil
	}
	rec, ok, err := s.keys.Get(r.Context(), id)
	if err != nil {
		return adminError(w, r, "reading key", err)
	}
	if !ok {
		return adminFail(w, http.StatusNotFound, problem.CodeNotFound, "no such key")
	}
	etag := rec.ETag()
	w.Header().Set("ETag", etag)
	if inm := r.Header.Get("If-None-Match"); inm != "" && authn.ETagMatches(inm, etag) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	return writeJSON(w, http.StatusOK, toKeyJSON(rec))
}

func (a *AdminAPI) deleteKey(w http.ResponseWriter, r *http.Request, id string) error {
	s := a.svc(w)
	if s == nil {
		return nil
	}
	found, err := s.keys.Revoke(r.Context(), id)
	if err != nil {
		return adminError(w, r, "revoking key", err)
	}
	if !found {
		return adminFail(w, http.StatusNotFound, problem.CodeNotFound, "no such key")
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// keyMutationFailed answers the domain errors of PATCH and rotate; false
// means err is none of them.
func keyMutationFailed(w http.ResponseWriter, err error) bool {
	switch {
	case errors.Is(err, authn.ErrKeyNotFound):
		_ = adminFail(w, http.StatusNotFound, problem.CodeNotFound, "no such key")
	case errors.Is(err, authn.ErrConfigKey):
		_ = adminFail(w, http.StatusConflict, problem.CodeConflict,
			"this key comes from the configuration: change it there and reload (DELETE revokes it at runtime)")
	case errors.Is(err, authn.ErrKeyChanged):
		p := problem.New(http.StatusPreconditionFailed, problem.CodePreconditionFailed,
			"the key changed since it was read: GET it again for the current ETag")
		p.Errors = []problem.FieldError{{Field: "header/If-Match", Rule: "etag", Message: "does not match the key's current ETag"}}
		writeProblem(w, p)
	default:
		return false
	}
	return true
}

// rotateRequest is the body of POST /apigw/keys/{id}/rotate.
type rotateRequest struct {
	// Grace is how long the old secret keeps working: a duration string
	// ("5s", "1h") or seconds.
	Grace json.RawMessage `json:"grace"`
}

func (a *AdminAPI) rotateKey(w http.ResponseWriter, r *http.Request, id string) error {
	var req rotateRequest
	if !decodeBodyOpt(w, r, &req, true) {
		return nil
	}
	var grace time.Duration
	if len(req.Grace) > 0 && string(req.Grace) != "null" {
		g, err := parseGrace(req.Grace)
		if err != nil {
			return validationFail(w, []problem.FieldError{{Field: "/grace", Rule: "format", Message: err.Error()}})
		}
		grace = g
	}
	s := a.svc(w)
	if s == nil {
		return nil
	}
	rec, key, err := s.keys.Rotate(r.Context(), id, grace)
	if err != nil {
		if keyMutationFailed(w, err) {
			return nil
		}
		return adminError(w, r, "rotating key", err)
	}
	w.Header().Set("Location", keyLocation(rec.ID))
	return writeJSON(w, http.StatusCreated, map[string]string{"id": rec.ID, "key": key})
}

// parseGrace reads a grace period: a Go duration string or a number of
// seconds, from 0 to maxRotateGrace.
func parseGrace(raw json.RawMessage) (time.Duration, error) {
	const form = "grace must be a duration such as \"5s\" or \"1h\", or seconds, from 0 to 720h"
	var d time.Duration
	var s string
	var n json.Number
	switch {
	case json.Unmarshal(raw, &s) == nil:
		v, err := time.ParseDuration(s)
		if err != nil {
			return 0, errors.New(form)
		}
		d = v
	case json.Unmarshal(raw, &n) == nil:
		f, err := n.Float64()
		if err != nil || f > maxRotateGrace.Seconds() {
			return 0, errors.New(form)
		}
		d = time.Duration(f * float64(time.Second))
	default:
		return 0, errors.New(form)
	}
	if d < 0 || d > maxRotateGrace {
		return 0, errors.New(form)
	}
	return d, nil
}
