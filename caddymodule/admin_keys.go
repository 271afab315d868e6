package caddymodule

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/apigw/caddy-apigw/authn"
	"github.com/apigw/caddy-apigw/problem"
	"github.com/apigw/caddy-apigw/validation"
)

// The /apigw/keys routes: list, create, get, patch, rotate and delete API
// keys. The requests are checked by package validation, the keys managed
// by package authn.

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
	user, after, size, err := validation.KeyListQuery(r.URL.Query())
	if failed(w, err) {
		return nil
	}
	keys := a.keyStore(w)
	if keys == nil {
		return nil
	}
	page, next, err := keys.PageAfter(r.Context(), user, after, size)
	if err != nil {
		return adminError(w, r, "listing keys", err)
	}
	out := struct {
		Data []authn.KeyListing `json:"data"`
		Next string             `json:"next,omitempty"`
	}{Data: make([]authn.KeyListing, 0, len(page)), Next: next}
	for _, k := range page {
		out.Data = append(out.Data, authn.KeyListing(k))
	}
	return writeJSON(w, http.StatusOK, out)
}

func (a *AdminAPI) createKey(w http.ResponseWriter, r *http.Request) error {
	var req validation.KeyRequest
	if !decodeBody(w, r, &req, false) {
		return nil
	}
	nk, err := req.NewKey(a.clock())
	if failed(w, err) {
		return nil
	}
	keys := a.keyStore(w)
	if keys == nil {
		return nil
	}
	rec, key, err := keys.Create(r.Context(), nk)
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

// handleKey serves /apigw/keys/{id} and /apigw/keys/{id}/rotate.
func (a *AdminAPI) handleKey(w http.ResponseWriter, r *http.Request) error {
	rest := strings.TrimPrefix(r.URL.EscapedPath(), "/apigw/keys/")
	rawID, action, _ := strings.Cut(rest, "/")
	id, err := url.PathUnescape(rawID)
	if err != nil || id == "" || !validation.PrintableText(id, 256) || (action != "" && action != "rotate") {
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
	keys := a.keyStore(w)
	if keys == nil {
		return nil
	}
	rec, ok, err := keys.Get(r.Context(), id)
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
	return writeJSON(w, http.StatusOK, authn.KeyListing(rec))
}

// patchKey applies a JSON merge patch (validation.KeyPatch); If-Match,
// when sent, must be the key's current ETag.
func (a *AdminAPI) patchKey(w http.ResponseWriter, r *http.Request, id string) error {
	var body map[string]json.RawMessage
	if !decodeBody(w, r, &body, false) {
		return nil
	}
	patch, err := validation.KeyPatch(body, a.clock())
	if failed(w, err) {
		return nil
	}
	keys := a.keyStore(w)
	if keys == nil {
		return nil
	}
	rec, err := keys.Patch(r.Context(), id, r.Header.Get("If-Match"), patch)
	if err != nil {
		return keyMutationFailed(w, r, "updating key", err)
	}
	w.Header().Set("ETag", rec.ETag())
	return writeJSON(w, http.StatusOK, authn.KeyListing(rec))
}

func (a *AdminAPI) deleteKey(w http.ResponseWriter, r *http.Request, id string) error {
	keys := a.keyStore(w)
	if keys == nil {
		return nil
	}
	found, err := keys.Revoke(r.Context(), id)
	return deleted(w, r, "revoking key", "no such key", found, err)
}

// keyMutationFailed answers the errors of PATCH and rotate.
func keyMutationFailed(w http.ResponseWriter, r *http.Request, what string, err error) error {
	switch {
	case errors.Is(err, authn.ErrKeyNotFound):
		return adminFail(w, http.StatusNotFound, problem.CodeNotFound, "no such key")
	case errors.Is(err, authn.ErrConfigKey):
		return adminFail(w, http.StatusConflict, problem.CodeConflict,
			"this key comes from the configuration: change it there and reload (DELETE revokes it at runtime)")
	case errors.Is(err, authn.ErrKeyChanged):
		p := problem.New(http.StatusPreconditionFailed, problem.CodePreconditionFailed,
			"the key changed since it was read: GET it again for the current ETag")
		p.Errors = []problem.FieldError{{Field: "header/If-Match", Rule: "etag", Message: "does not match the key's current ETag"}}
		writeProblem(w, p)
		return nil
	}
	return adminError(w, r, what, err)
}

func (a *AdminAPI) rotateKey(w http.ResponseWriter, r *http.Request, id string) error {
	var req struct {
		// Grace is how long the old secret keeps working.
		Grace json.RawMessage `json:"grace"`
	}
	if !decodeBody(w, r, &req, true) {
		return nil
	}
	grace, err := validation.Grace(req.Grace)
	if failed(w, err) {
		return nil
	}
	keys := a.keyStore(w)
	if keys == nil {
		return nil
	}
	rec, key, err := keys.Rotate(r.Context(), id, grace)
	if err != nil {
		return keyMutationFailed(w, r, "rotating key", err)
	}
	w.Header().Set("Location", keyLocation(rec.ID))
	return writeJSON(w, http.StatusCreated, map[string]string{"id": rec.ID, "key": key})
}
