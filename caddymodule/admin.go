package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/caddyserver/caddy/v2"
	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/apigw/caddy-apigw/problem"
	"github.com/apigw/caddy-apigw/store"
)

func init() {
	caddy.RegisterModule(AdminAPI{})
}

// MaxAdminBody is the largest request body the admin routes read (413
// payload_too_large beyond it).
const MaxAdminBody = 64 << 10

// keyRecord is an API key as the admin API lists it (the fields of
// authn.KeyRecord: never the key or its hash).
type keyRecord struct {
	ID, User      string
	Scopes, Roles []string
	Metadata      map[string]string
	Created       time.Time
	Expires       time.Time
	Source        string
}

// keyService manages runtime API keys (authn.KeyStore).
type keyService interface {
	Create(ctx context.Context, user string, scopes []string, metadata map[string]string, expires time.Time) (rec keyRecord, key string, err error)
	List(ctx context.Context) ([]keyRecord, error)
	Revoke(ctx context.Context, id string) (found bool, err error)
}

// revocationService revokes JWTs by jti (authn.Revocations).
type revocationService interface {
	RevokeJTI(ctx context.Context, jti string, exp time.Time) error
}

// sessionInfo is a session as the admin API lists it (sessions.Info).
type sessionInfo struct {
	ID, User          string
	Created, LastSeen time.Time
}

// sessionService lists and ends sessions (sessions.Manager).
type sessionService interface {
	List(ctx context.Context, user string) ([]sessionInfo, error)
	End(ctx context.Context, id string) (found bool, err error)
	EndUser(ctx context.Context, user string) (n int, err error)
}

// adminServices are the domain services the admin routes call, built on
// the running config's store.
type adminServices struct {
	keys        keyService
	revocations revocationService
	sessions    sessionService
}

// newAdminServices builds the domain services on the app's store
// (admin_domain.go wires authn.KeyStore, authn.Revocations and
// sessions.Manager).
var newAdminServices func(app *App) (adminServices, error)

// errNoApp means the running config has no apigw app (nothing to manage).
var errNoApp = errors.New("no caddy-apigw store in the running config")

// AdminAPI is the admin.api.apigw module: runtime management of API keys,
// JWT revocations and sessions under /apigw/ on Caddy's admin endpoint.
// It is an ordinary admin route, so Caddy's admin access controls (origin
// and host checks on the local endpoint, mTLS and permissions on the
// remote one) apply before it runs. Changes go to the running config's
// store, apply without reload and reach every instance sharing a Redis
// store.
//
// Errors are RFC 9457 problem JSON with a stable code (like every other
// answer of the gateway), written by the handler itself: a returned
// caddy.APIError would be rendered as Caddy's {"error": …} shape instead.
//
//	GET    /apigw/keys                 list keys (never a key or hash)
//	POST   /apigw/keys                 {"user","scopes"?,"metadata"?,"expires"?} → 201 {"id","key"}
//	DELETE /apigw/keys/{id}            204
//	POST   /apigw/revocations          {"jti","exp"?} → 201
//	GET    /apigw/sessions[?user=]     list a user's (or every) session
//	DELETE /apigw/sessions/{id}        204
//	DELETE /apigw/sessions?user=       204
type AdminAPI struct {
	// services returns the domain services; nil means those of the
	// running config (tests inject fakes).
	services func() (adminServices, error)
	now      func() time.Time
}

// CaddyModule returns the Caddy module information.
func (AdminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.apigw",
		New: func() caddy.Module { return new(AdminAPI) },
	}
}

// Routes returns the /apigw/ admin routes.
func (a *AdminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{
		{Pattern: "/apigw/keys", Handler: caddy.AdminHandlerFunc(a.handleKeys)},
		{Pattern: "/apigw/keys/", Handler: caddy.AdminHandlerFunc(a.handleKey)},
		{Pattern: "/apigw/revocations", Handler: caddy.AdminHandlerFunc(a.handleRevocations)},
		{Pattern: "/apigw/sessions", Handler: caddy.AdminHandlerFunc(a.handleSessions)},
		{Pattern: "/apigw/sessions/", Handler: caddy.AdminHandlerFunc(a.handleSession)},
		{Pattern: "/apigw/", Handler: caddy.AdminHandlerFunc(a.handleUnknown)},
	}
}

// runningServices returns the services of the running config's apigw app.
func runningServices() (adminServices, error) {
	v, err := caddy.ActiveContext().AppIfConfigured("apigw")
	if err != nil {
		return adminServices{}, errNoApp
	}
	app, ok := v.(*App)
	if !ok || app.store == nil {
		return adminServices{}, errNoApp
	}
	return app.adminServices()
}

func (a *AdminAPI) svc(w http.ResponseWriter) (adminServices, bool) {
	get := a.services
	if get == nil {
		get = runningServices
	}
	s, err := get()
	if err != nil {
		adminFail(w, http.StatusServiceUnavailable, problem.CodeServiceUnavailable, err.Error())
		return s, false
	}
	return s, true
}

func (a *AdminAPI) clock() time.Time {
	if a.now != nil {
		return a.now()
	}
	return time.Now()
}

// keyJSON is one entry of GET /apigw/keys.
type keyJSON struct {
	ID       string            `json:"id"`
	User     string            `json:"user"`
	Scopes   []string          `json:"scopes,omitempty"`
	Roles    []string          `json:"roles,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
	Created  *time.Time        `json:"created,omitempty"`
	Expires  *time.Time        `json:"expires,omitempty"`
	Source   string            `json:"source,omitempty"`
}

// createKeyRequest is the body of POST /apigw/keys.
type createKeyRequest struct {
	User     string            `json:"user"`
	Scopes   []string          `json:"scopes"`
	Metadata map[string]string `json:"metadata"`
	// Expires is an RFC 3339 time, a duration from now ("720h") or
	// seconds since 1970 (as a JWT exp).
	Expires json.RawMessage `json:"expires"`
}

func (a *AdminAPI) handleKeys(w http.ResponseWriter, r *http.Request) error {
	switch r.Method {
	case http.MethodGet:
		s, ok := a.svc(w)
		if !ok || s.keys == nil {
			return unavailableIfNil(w, ok)
		}
		recs, err := s.keys.List(r.Context())
		if err != nil {
			return adminError(w, r, "listing keys", err)
		}
		out := make([]keyJSON, 0, len(recs))
		for _, k := range recs {
			out = append(out, keyJSON{ID: k.ID, User: k.User, Scopes: k.Scopes, Roles: k.Roles, Metadata: k.Metadata,
				Created: timePtr(k.Created), Expires: timePtr(k.Expires), Source: k.Source})
		}
		return writeJSON(w, http.StatusOK, out)
	case http.MethodPost:
		var req createKeyRequest
		if !decodeBody(w, r, &req) {
			return nil
		}
		var fe []problem.FieldError
		if !validText(req.User, 256) {
			fe = append(fe, problem.FieldError{Field: "/user", Rule: "required", Message: "user must be 1-256 printable characters"})
		}
		if len(req.Scopes) > 64 {
			fe = append(fe, problem.FieldError{Field: "/scopes", Rule: "maxItems", Message: "at most 64 scopes"})
		}
		for i, sc := range req.Scopes {
			if !validText(sc, 128) || strings.ContainsFunc(sc, unicode.IsSpace) {
				fe = append(fe, problem.FieldError{Field: "/scopes/" + strconv.Itoa(i), Rule: "pattern", Message: "a scope is 1-128 printable characters without spaces"})
			}
		}
		if len(req.Metadata) > 64 {
			fe = append(fe, problem.FieldError{Field: "/metadata", Rule: "maxProperties", Message: "at most 64 metadata entries"})
		}
		for k, v := range req.Metadata {
			if !validText(k, 64) || (v != "" && !validText(v, 1024)) {
				fe = append(fe, problem.FieldError{Field: "/metadata", Rule: "pattern", Message: "metadata names are 1-64 and values up to 1024 printable characters"})
				break
			}
		}
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
		s, ok := a.svc(w)
		if !ok || s.keys == nil {
			return unavailableIfNil(w, ok)
		}
		rec, key, err := s.keys.Create(r.Context(), req.User, req.Scopes, req.Metadata, expires)
		if err != nil {
			return adminError(w, r, "creating key", err)
		}
		w.Header().Set("Location", "/apigw/keys/"+rec.ID)
		return writeJSON(w, http.StatusCreated, map[string]string{"id": rec.ID, "key": key})
	default:
		return methodNotAllowed(w, "GET, POST")
	}
}

func (a *AdminAPI) handleKey(w http.ResponseWriter, r *http.Request) error {
	id := strings.TrimPrefix(r.URL.Path, "/apigw/keys/")
	if id == "" || strings.Contains(id, "/") || !validText(id, 256) {
		return adminFail(w, http.StatusNotFound, problem.CodeNotFound, "no such key")
	}
	if r.Method != http.MethodDelete {
		return methodNotAllowed(w, "DELETE")
	}
	s, ok := a.svc(w)
	if !ok || s.keys == nil {
		return unavailableIfNil(w, ok)
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

// revocationRequest is the body of POST /apigw/revocations; exp is the
// token's expiry (a JWT NumericDate or RFC 3339), after which the
// revocation entry may be dropped.
type revocationRequest struct {
	JTI string          `json:"jti"`
	Exp json.RawMessage `json:"exp"`
}

func (a *AdminAPI) handleRevocations(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPost {
		return methodNotAllowed(w, "POST")
	}
	var req revocationRequest
	if !decodeBody(w, r, &req) {
		return nil
	}
	var fe []problem.FieldError
	if !validText(req.JTI, 256) {
		fe = append(fe, problem.FieldError{Field: "/jti", Rule: "required", Message: "jti must be 1-256 printable characters"})
	}
	var exp time.Time
	if len(req.Exp) > 0 && string(req.Exp) != "null" {
		t, err := parseNumericDate(req.Exp)
		switch {
		case err != nil:
			fe = append(fe, problem.FieldError{Field: "/exp", Rule: "format", Message: err.Error()})
		case !t.After(a.clock()):
			fe = append(fe, problem.FieldError{Field: "/exp", Rule: "minimum", Message: "exp is in the past: such a token is refused anyway"})
		default:
			exp = t
		}
	}
	if len(fe) > 0 {
		return validationFail(w, fe)
	}
	s, ok := a.svc(w)
	if !ok || s.revocations == nil {
		return unavailableIfNil(w, ok)
	}
	if err := s.revocations.RevokeJTI(r.Context(), req.JTI, exp); err != nil {
		return adminError(w, r, "revoking token", err)
	}
	out := struct {
		JTI string     `json:"jti"`
		Exp *time.Time `json:"exp,omitempty"`
	}{req.JTI, timePtr(exp)}
	return writeJSON(w, http.StatusCreated, out)
}

// sessionJSON is one entry of GET /apigw/sessions.
type sessionJSON struct {
	ID       string     `json:"id"`
	User     string     `json:"user"`
	Created  *time.Time `json:"created,omitempty"`
	LastSeen *time.Time `json:"last_seen,omitempty"`
}

func (a *AdminAPI) handleSessions(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet && r.Method != http.MethodDelete {
		return methodNotAllowed(w, "GET, DELETE")
	}
	q := r.URL.Query()
	user := q.Get("user")
	// GET without ?user= lists every session; DELETE needs a user (ending
	// every session of every user by mistake is too easy otherwise).
	if (q.Has("user") || r.Method == http.MethodDelete) && (!validText(user, 256) || len(q["user"]) > 1) {
		return validationFail(w, []problem.FieldError{{Field: "query/user", Rule: "required", Message: "give exactly one user: ?user=<id>"}})
	}
	s, ok := a.svc(w)
	if !ok || s.sessions == nil {
		return unavailableIfNil(w, ok)
	}
	if r.Method == http.MethodDelete {
		n, err := s.sessions.EndUser(r.Context(), user)
		if err != nil {
			return adminError(w, r, "ending sessions", err)
		}
		w.Header().Set("Apigw-Sessions-Ended", strconv.Itoa(n))
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	infos, err := s.sessions.List(r.Context(), user)
	if err != nil {
		return adminError(w, r, "listing sessions", err)
	}
	out := make([]sessionJSON, 0, len(infos))
	for _, in := range infos {
		out = append(out, sessionJSON{ID: in.ID, User: in.User, Created: timePtr(in.Created), LastSeen: timePtr(in.LastSeen)})
	}
	return writeJSON(w, http.StatusOK, out)
}

func (a *AdminAPI) handleSession(w http.ResponseWriter, r *http.Request) error {
	id := strings.TrimPrefix(r.URL.Path, "/apigw/sessions/")
	if id == "" || strings.Contains(id, "/") || !validText(id, 256) {
		return adminFail(w, http.StatusNotFound, problem.CodeNotFound, "no such session")
	}
	if r.Method != http.MethodDelete {
		return methodNotAllowed(w, "DELETE")
	}
	s, ok := a.svc(w)
	if !ok || s.sessions == nil {
		return unavailableIfNil(w, ok)
	}
	found, err := s.sessions.End(r.Context(), id)
	if err != nil {
		return adminError(w, r, "ending session", err)
	}
	if !found {
		return adminFail(w, http.StatusNotFound, problem.CodeNotFound, "no such session")
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *AdminAPI) handleUnknown(w http.ResponseWriter, _ *http.Request) error {
	return adminFail(w, http.StatusNotFound, problem.CodeNotFound, "no such admin route; see /apigw/keys, /apigw/revocations, /apigw/sessions")
}

// --- helpers

// adminFail writes a problem and returns nil (the response is complete).
func adminFail(w http.ResponseWriter, status int, code, detail string) error {
	writeProblem(w, problem.New(status, code, detail))
	return nil
}

func writeProblem(w http.ResponseWriter, p *problem.Problem) {
	id := uuid.NewString()
	w.Header().Set(RequestIDHeader, id)
	p.Write(w, id)
}

func validationFail(w http.ResponseWriter, fe []problem.FieldError) error {
	p := problem.New(http.StatusBadRequest, problem.CodeValidationFailed, "the request body or query is invalid")
	p.Errors = fe
	writeProblem(w, p)
	return nil
}

func methodNotAllowed(w http.ResponseWriter, allow string) error {
	w.Header().Set("Allow", allow)
	return adminFail(w, http.StatusMethodNotAllowed, problem.CodeMethodNotAllowed, "method not allowed; use "+allow)
}

// unavailableIfNil answers 503 when the services exist but this one is
// not part of the build; ok=false means svc already answered.
func unavailableIfNil(w http.ResponseWriter, ok bool) error {
	if !ok {
		return nil
	}
	return adminFail(w, http.StatusServiceUnavailable, problem.CodeServiceUnavailable, "this management function is not available")
}

// adminError maps a domain error: the store being down is 503 (retry),
// anything else a logged 500 whose text stays in the log.
func adminError(w http.ResponseWriter, r *http.Request, what string, err error) error {
	if errors.Is(err, store.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
		writeProblem(w, problem.New(http.StatusServiceUnavailable, problem.CodeServiceUnavailable,
			"the store is unavailable; try again").WithHeader("Retry-After", "1"))
		return nil
	}
	caddy.Log().Named("admin.api.apigw").Error(what, zap.String("uri", r.URL.Path), zap.Error(err))
	return adminFail(w, http.StatusInternalServerError, problem.CodeInternalError, "an internal error occurred")
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return caddy.APIError{HTTPStatus: http.StatusInternalServerError, Err: fmt.Errorf("encoding response: %w", err)}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
	return nil
}

// decodeBody reads one JSON object (at most MaxAdminBody bytes, no
// unknown fields, nothing after it) into v. On failure it writes the
// problem and returns false.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		// curl -d sends application/x-www-form-urlencoded; the body must
		// still be JSON, and Caddy's admin origin checks keep browsers'
		// cross-site form posts out.
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json") && mt != "application/x-www-form-urlencoded") {
			_ = adminFail(w, http.StatusUnsupportedMediaType, problem.CodeUnsupportedMediaType, "send Content-Type: application/json")
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

// Interface guards
var (
	_ caddy.AdminRouter = (*AdminAPI)(nil)
)
