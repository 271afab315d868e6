package sessions

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/apigw/caddy-apigw/authn"
	"github.com/apigw/caddy-apigw/failure"
)

// Caps on the session cookies one request may make the manager look at: a
// request may carry several cookies of the session's name (another path
// or a sibling domain set one), but never makes unbounded store work.
const (
	maxCookiesAuthenticate = 3
	maxCookiesEnd          = 10
)

var (
	errNoSessionCookie = failure.New(failure.ErrMissingCredentials, "no session cookie: log in first")
	errSessionInvalid  = failure.New(failure.ErrInvalidSession, "the session is invalid, ended or expired: log in again")
	errNothingToEnd    = failure.New(failure.ErrMissingCredentials, "no session cookie: nothing to log out")
)

// Authenticate returns the live session of a request with headers h and
// its token: the first of its session cookies (at most 3 are tried) that
// Lookup accepts, with Lookup's sliding refresh of last-seen. Without a
// session cookie it returns a failure.ErrMissingCredentials, without a
// valid one a failure.ErrInvalidSession, and when the store fails a
// failure.ErrUnavailable.
func (m *Manager) Authenticate(ctx context.Context, h http.Header) (Session, string, error) {
	var (
		sess  Session
		token string
		tried int
		err   error
	)
	CookieValues(h, m.CookieName(), func(v string) bool {
		tried++
		var lerr error
		if sess, lerr = m.Lookup(ctx, v); lerr == nil {
			token = v
			return false
		}
		if !errors.Is(lerr, ErrInvalid) {
			err = lerr
			return false
		}
		return tried < maxCookiesAuthenticate
	})
	switch {
	case err != nil:
		return Session{}, "", err
	case token != "":
		return sess, token, nil
	case tried == 0:
		return Session{}, "", errNoSessionCookie
	default:
		return Session{}, "", errSessionInvalid
	}
}

// Identity returns the identity a session authenticates: its user, method
// "session", the "scope" and "roles" metadata as scopes and roles, and any
// other metadata as claims. The identity of a session from Lookup is
// built once per stored version of the session and shared by its
// requests: treat it as read-only. It comes from the memo whenever the
// user matches, so a caller that changes a Session's Meta must not call
// Identity on it afterwards (none does: sessions are changed by storing
// them again, which gives new bytes and a new memo entry).
func (s *Session) Identity() *authn.Identity {
	if s.memo != nil && s.memo.sess.User == s.User {
		return s.memo.identity()
	}
	return s.newIdentity()
}

// newIdentity builds Identity's result.
func (s *Session) newIdentity() *authn.Identity {
	id := &authn.Identity{ID: s.User, Method: "session"}
	for k, v := range s.Meta {
		switch k {
		case "scope":
			id.Scopes = strings.Fields(v)
		case "roles":
			id.Roles = strings.Fields(v)
		default:
			if id.Claims == nil {
				id.Claims = make(map[string]any, len(s.Meta))
			}
			id.Claims[k] = v
		}
	}
	return id
}

// EndPresented ends the sessions of every session cookie in h (at most
// 10 are looked at): session rotation at login, so a session planted
// before login never becomes the logged-in session. It returns how many
// cookies were sent and how many live sessions ended; a store failure is
// a failure.ErrUnavailable.
func (m *Manager) EndPresented(ctx context.Context, h http.Header) (sent, ended int, err error) {
	CookieValues(h, m.CookieName(), func(v string) bool {
		sent++
		found, eerr := m.EndToken(ctx, v)
		if eerr != nil {
			err = eerr
			return false
		}
		if found {
			ended++
		}
		return sent < maxCookiesEnd
	})
	return sent, ended, err
}

// Logout ends the sessions of the session cookies in h (see EndPresented)
// and returns how many ended. Without a session cookie it returns a
// failure.ErrMissingCredentials, when none was live ErrInvalid (a
// failure.ErrInvalidSession), when the store fails a
// failure.ErrUnavailable.
func (m *Manager) Logout(ctx context.Context, h http.Header) (int, error) {
	sent, ended, err := m.EndPresented(ctx, h)
	switch {
	case err != nil:
		return 0, err
	case sent == 0:
		return 0, errNothingToEnd
	case ended == 0:
		return 0, ErrInvalid
	}
	return ended, nil
}
