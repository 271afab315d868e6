package caddymodule

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/apigw/caddy-apigw/problem"
	"github.com/apigw/caddy-apigw/sessions"
	"github.com/apigw/caddy-apigw/validation"
)

// The /apigw/sessions routes: list sessions and end them.

// sessionManager returns the sessions, or answers 503 and returns nil.
func (a *AdminAPI) sessionManager(w http.ResponseWriter) *sessions.Manager {
	if st, sc := a.target(w); st != nil {
		return sessions.NewManager(st, sc)
	}
	return nil
}

func (a *AdminAPI) handleSessions(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet && r.Method != http.MethodDelete {
		return methodNotAllowed(w, "GET, DELETE")
	}
	user, err := validation.SessionUser(r.URL.Query(), r.Method == http.MethodDelete)
	if failed(w, err) {
		return nil
	}
	mgr := a.sessionManager(w)
	if mgr == nil {
		return nil
	}
	if r.Method == http.MethodDelete {
		n, err := mgr.EndUser(r.Context(), user)
		if err != nil {
			return adminError(w, r, "ending sessions", err)
		}
		w.Header().Set("Apigw-Sessions-Ended", strconv.Itoa(n))
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	infos, err := mgr.List(r.Context(), user)
	if err != nil {
		return adminError(w, r, "listing sessions", err)
	}
	if infos == nil {
		infos = []sessions.Info{}
	}
	return writeJSON(w, http.StatusOK, infos)
}

func (a *AdminAPI) handleSession(w http.ResponseWriter, r *http.Request) error {
	id := strings.TrimPrefix(r.URL.Path, "/apigw/sessions/")
	if id == "" || strings.Contains(id, "/") || !validation.PrintableText(id, 256) {
		return adminFail(w, http.StatusNotFound, problem.CodeNotFound, "no such session")
	}
	if r.Method != http.MethodDelete {
		return methodNotAllowed(w, "DELETE")
	}
	mgr := a.sessionManager(w)
	if mgr == nil {
		return nil
	}
	found, err := mgr.End(r.Context(), id)
	return deleted(w, r, "ending session", "no such session", found, err)
}
