package caddymodule

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/apigw/caddy-apigw/problem"
)

// The /apigw/revocations routes: revoke a JWT by jti, list revocations and
// undo one.

// revocationRequest is the body of POST /apigw/revocations; exp is the
// token's expiry (a JWT NumericDate or RFC 3339), after which the
// revocation entry may be dropped.
type revocationRequest struct {
	JTI string          `json:"jti"`
	Exp json.RawMessage `json:"exp"`
}

func (a *AdminAPI) handleRevocations(w http.ResponseWriter, r *http.Request) error {
	switch r.Method {
	case http.MethodGet:
		s := a.svc(w)
		if s == nil {
			return nil
		}
		list, err := s.revocations.List(r.Context())
		if err != nil {
			return adminError(w, r, "listing revocations", err)
		}
		out := make([]revocationJSON, 0, len(list))
		for _, rv := range list {
			out = append(out, revocationJSON{rv.JTI, timePtr(rv.Expires)})
		}
		return writeJSON(w, http.StatusOK, out)
	case http.MethodPost:
	default:
		return methodNotAllowed(w, "GET, POST")
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
	s := a.svc(w)
	if s == nil {
		return nil
	}
	if err := s.revocations.RevokeJTI(r.Context(), req.JTI, exp); err != nil {
		return adminError(w, r, "revoking token", err)
	}
	w.Header().Set("Location", "/apigw/revocations/"+url.PathEscape(req.JTI))
	return writeJSON(w, http.StatusCreated, revocationJSON{req.JTI, timePtr(exp)})
}

// revocationJSON is one revocation as listed: exp is null when unknown.
type revocationJSON struct {
	JTI string     `json:"jti"`
	Exp *time.Time `json:"exp"`
}

// handleRevocation serves /apigw/revocations/{jti}: GET shows it (the
// Location of a POST), DELETE undoes it: the token is accepted again
// (unless it expired meanwhile).
func (a *AdminAPI) handleRevocation(w http.ResponseWriter, r *http.Request) error {
	jti, err := url.PathUnescape(strings.TrimPrefix(r.URL.EscapedPath(), "/apigw/revocations/"))
	if err != nil || !validText(jti, 256) {
		return adminFail(w, http.StatusNotFound, problem.CodeNotFound, "no such revocation")
	}
	if r.Method != http.MethodDelete && r.Method != http.MethodGet {
		return methodNotAllowed(w, "GET, DELETE")
	}
	s := a.svc(w)
	if s == nil {
		return nil
	}
	if r.Method == http.MethodGet {
		rv, ok, err := s.revocations.Get(r.Context(), jti)
		if err != nil {
			return adminError(w, r, "reading revocation", err)
		}
		if !ok {
			return adminFail(w, http.StatusNotFound, problem.CodeNotFound, "no such revocation")
		}
		return writeJSON(w, http.StatusOK, revocationJSON{rv.JTI, timePtr(rv.Expires)})
	}
	found, err := s.revocations.Unrevoke(r.Context(), jti)
	if err != nil {
		return adminError(w, r, "undoing revocation", err)
	}
	if !found {
		return adminFail(w, http.StatusNotFound, problem.CodeNotFound, "no such revocation")
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
