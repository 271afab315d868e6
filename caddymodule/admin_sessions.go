package caddymodule

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/apigw/caddy-apigw/problem"
)

// The /apigw/sessions routes: list sessions and end them.

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
	s := a.svc(w)
	if s == nil {
		return nil
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
	s := a.svc(w)
	if s == nil {
		return nil
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
