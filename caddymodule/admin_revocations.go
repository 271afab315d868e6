package caddymodule

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/apigw/caddy-apigw/authn"
	"github.com/apigw/caddy-apigw/problem"
	"github.com/apigw/caddy-apigw/validation"
)

// The /apigw/revocations routes: revoke a JWT by jti, list revocations and
// undo one.

func (a *AdminAPI) handleRevocations(w http.ResponseWriter, r *http.Request) error {
	switch r.Method {
	case http.MethodGet:
		revs := a.revocations(w)
		if revs == nil {
			return nil
		}
		list, err := revs.List(r.Context())
		if err != nil {
			return adminError(w, r, "listing revocations", err)
		}
		out := make([]authn.RevocationListing, 0, len(list))
		for _, rv := range list {
			out = append(out, authn.RevocationListing(rv))
		}
		return writeJSON(w, http.StatusOK, out)
	case http.MethodPost:
	default:
		return methodNotAllowed(w, "GET, POST")
	}
	var req struct {
		JTI string          `json:"jti"`
		Exp json.RawMessage `json:"exp"`
	}
	if !decodeBody(w, r, &req, false) {
		return nil
	}
	exp, err := validation.Revocation(req.JTI, req.Exp, a.clock())
	if failed(w, err) {
		return nil
	}
	revs := a.revocations(w)
	if revs == nil {
		return nil
	}
	if err := revs.RevokeJTI(r.Context(), req.JTI, exp); err != nil {
		return adminError(w, r, "revoking token", err)
	}
	w.Header().Set("Location", "/apigw/revocations/"+url.PathEscape(req.JTI))
	return writeJSON(w, http.StatusCreated, authn.RevocationListing{JTI: req.JTI, Expires: exp})
}

// revocations returns the jti revocations, or answers 503 and returns nil.
func (a *AdminAPI) revocations(w http.ResponseWriter) *authn.Revocations {
	if st, _ := a.target(w); st != nil {
		return authn.NewRevocations(st)
	}
	return nil
}

// handleRevocation serves /apigw/revocations/{jti}: GET shows it (the
// Location of a POST), DELETE undoes it: the token is accepted again
// (unless it expired meanwhile).
func (a *AdminAPI) handleRevocation(w http.ResponseWriter, r *http.Request) error {
	jti, err := url.PathUnescape(strings.TrimPrefix(r.URL.EscapedPath(), "/apigw/revocations/"))
	if err != nil || !validation.PrintableText(jti, 256) {
		return adminFail(w, http.StatusNotFound, problem.CodeNotFound, "no such revocation")
	}
	if r.Method != http.MethodDelete && r.Method != http.MethodGet {
		return methodNotAllowed(w, "GET, DELETE")
	}
	revs := a.revocations(w)
	if revs == nil {
		return nil
	}
	if r.Method == http.MethodGet {
		rv, ok, err := revs.Get(r.Context(), jti)
		if err != nil {
			return adminError(w, r, "reading revocation", err)
		}
		if !ok {
			return adminFail(w, http.StatusNotFound, problem.CodeNotFound, "no such revocation")
		}
		return writeJSON(w, http.StatusOK, authn.RevocationListing(rv))
	}
	found, err := revs.Unrevoke(r.Context(), jti)
	return deleted(w, r, "undoing revocation", "no such revocation", found, err)
}
