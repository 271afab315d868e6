package caddymodule

import (
	"net/http"

	"go.uber.org/zap"

	"github.com/apigw/caddy-apigw/problem"
	"github.com/apigw/caddy-apigw/sessions"
)

// endPresentedSessions ends every session cookie the request carries
// (sessions.Manager.EndPresented): session rotation at login, shared by
// POST /login and the OIDC callback. It returns how many sessions ended,
// or a 503 problem when the store fails.
func endPresentedSessions(r *http.Request, mgr *sessions.Manager, logger *zap.Logger) (int, *problem.Problem) {
	_, ended, err := mgr.EndPresented(r.Context(), r.Header)
	if err != nil {
		logStoreError(logger, "ending the previous session failed", err)
		return 0, problemFromError(err)
	}
	return ended, nil
}

// startSession creates a session for user with meta and sets its cookie:
// the one way every login (POST /login, the OIDC callback) starts a
// session, so cookie, store, timeouts, per-user cap, CSRF token and admin
// listing are the same whichever way the user logged in.
func startSession(w http.ResponseWriter, r *http.Request, mgr *sessions.Manager, logger *zap.Logger, user string, meta map[string]string) (string, sessions.Info, *problem.Problem) {
	token, info, err := mgr.Create(r.Context(), user, meta)
	if err != nil {
		logStoreError(logger, "creating session failed", err)
		return "", info, problemFromError(err)
	}
	http.SetCookie(w, mgr.Cookie(token, r.TLS != nil))
	return token, info, nil
}
