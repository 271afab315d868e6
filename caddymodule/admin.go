package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/apigw/caddy-apigw/authn"
	"github.com/apigw/caddy-apigw/failure"
	"github.com/apigw/caddy-apigw/problem"
	"github.com/apigw/caddy-apigw/sessions"
	"github.com/apigw/caddy-apigw/store"
	"github.com/apigw/caddy-apigw/validation"
)

func init() {
	caddy.RegisterModule(AdminAPI{})
}

// MaxAdminBody is the largest request body the admin routes read (413
// payload_too_large beyond it).
const MaxAdminBody = validation.MaxAdminBody

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
//	GET    /apigw/keys?user=&size=&after=  {"data":[…],"next":"<cursor>"}
//	POST   /apigw/keys                     {"user","id"?,"scopes"?,"roles"?,"metadata"?,"allow_cidr"?,"expires"?} → 201 {"id","key"}
//	GET    /apigw/keys/{id}                one key, with an ETag
//	PATCH  /apigw/keys/{id}                JSON merge patch (RFC 7396), If-Match honoured → 200
//	POST   /apigw/keys/{id}/rotate         {"grace"?} → 201 {"id","key"}
//	DELETE /apigw/keys/{id}                204
//	POST   /apigw/revocations              {"jti","exp"?} → 201
//	GET    /apigw/revocations              [{"jti","exp"}]
//	GET    /apigw/revocations/{jti}        {"jti","exp"}
//	DELETE /apigw/revocations/{jti}        204
//	GET    /apigw/sessions[?user=]         list a user's (or every) session
//	DELETE /apigw/sessions/{id}            204
//	DELETE /apigw/sessions?user=           204
//
// Keys from the configuration (apigw_api_key's `key` lines) are listed and
// can be revoked (DELETE), but PATCH and rotate answer 409 conflict: the
// configuration is their source of truth, and a runtime override that a
// reload silently keeps (or drops) would be worse than either.
type AdminAPI struct {
	// store and sessions are what is managed; a nil store means the
	// running config's store and session options (tests set their own).
	store    store.Store
	sessions sessions.Config
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
		{Pattern: "/apigw/revocations/", Handler: caddy.AdminHandlerFunc(a.handleRevocation)},
		{Pattern: "/apigw/sessions", Handler: caddy.AdminHandlerFunc(a.handleSessions)},
		{Pattern: "/apigw/sessions/", Handler: caddy.AdminHandlerFunc(a.handleSession)},
		{Pattern: "/apigw/", Handler: caddy.AdminHandlerFunc(a.handleUnknown)},
	}
}

// runningStore returns the store and session options of the running
// config's apigw app.
func runningStore() (store.Store, sessions.Config, error) {
	v, err := caddy.ActiveContext().AppIfConfigured("apigw")
	if err != nil {
		return nil, sessions.Config{}, errNoApp
	}
	app, ok := v.(*App)
	if !ok || app.store == nil {
		return nil, sessions.Config{}, errNoApp
	}
	return app.store, app.SessionConfig(), nil
}

// target returns the store and session options managed, or answers 503
// and returns a nil store.
func (a *AdminAPI) target(w http.ResponseWriter) (store.Store, sessions.Config) {
	if a.store != nil {
		return a.store, a.sessions
	}
	st, sc, err := runningStore()
	if err != nil {
		_ = adminFail(w, http.StatusServiceUnavailable, problem.CodeServiceUnavailable, err.Error())
		return nil, sc
	}
	return st, sc
}

// keyStore returns the runtime key store, or answers 503 and returns nil.
func (a *AdminAPI) keyStore(w http.ResponseWriter) *authn.KeyStore {
	if st, _ := a.target(w); st != nil {
		return authn.NewKeyStore(st)
	}
	return nil
}

func (a *AdminAPI) clock() time.Time {
	if a.now != nil {
		return a.now()
	}
	return time.Now()
}

func (a *AdminAPI) handleUnknown(w http.ResponseWriter, _ *http.Request) error {
	return adminFail(w, http.StatusNotFound, problem.CodeNotFound, "no such admin route; see /apigw/keys, /apigw/revocations, /apigw/sessions")
}

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

// decodeBody reads the body (validation.AdminBody) into v; on failure
// it writes the problem and returns false. allowEmpty takes a missing
// body (v is left as it is).
func decodeBody(w http.ResponseWriter, r *http.Request, v any, allowEmpty bool) bool {
	body, err := validation.AdminBody.Read(r, nil)
	if err == nil {
		err = validation.AdminBody.Decode(body, v, allowEmpty)
	}
	return !failed(w, err)
}

// failed writes the problem of a request failure (a failure kind, with
// field errors for a validation failure) and reports whether there was
// one.
func failed(w http.ResponseWriter, err error) bool {
	if err == nil {
		return false
	}
	writeProblem(w, problemWithFields(err))
	return true
}

func methodNotAllowed(w http.ResponseWriter, allow string) error {
	w.Header().Set("Allow", allow)
	return adminFail(w, http.StatusMethodNotAllowed, problem.CodeMethodNotAllowed, "method not allowed; use "+allow)
}

// adminError maps a domain error: the store being down is 503 (retry),
// anything else a logged 500 whose text stays in the log.
func adminError(w http.ResponseWriter, r *http.Request, what string, err error) error {
	if errors.Is(err, failure.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
		writeProblem(w, problem.New(http.StatusServiceUnavailable, problem.CodeServiceUnavailable,
			"the store is unavailable; try again").WithHeader("Retry-After", "1"))
		return nil
	}
	caddy.Log().Named("admin.api.apigw").Error(what, zap.String("uri", r.URL.Path), zap.Error(err))
	return adminFail(w, http.StatusInternalServerError, problem.CodeInternalError, "an internal error occurred")
}

// deleted answers a DELETE: 204, a 404 with notFound when there was
// nothing to delete, or the error of doing what.
func deleted(w http.ResponseWriter, r *http.Request, what, notFound string, found bool, err error) error {
	if err != nil {
		return adminError(w, r, what, err)
	}
	if !found {
		return adminFail(w, http.StatusNotFound, problem.CodeNotFound, notFound)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
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

// Interface guards
var (
	_ caddy.AdminRouter = (*AdminAPI)(nil)
)
