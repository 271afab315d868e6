package caddymodule

import (
	"encoding/json"
	"net/http"
	"sort"
	"time"

	"github.com/apigw/caddy-apigw/authn"
	"github.com/apigw/caddy-apigw/problem"
)

// PATCH /apigw/keys/{id}: a JSON merge patch (RFC 7396) of a runtime key.

// patchKey applies a JSON merge patch. The patchable members are scopes,
// roles, allow_cidr (arrays, replaced whole; null clears), metadata (an
// object merged member by member; a null member removes it, a null
// metadata clears it) and expires (as at creation; null: never). id,
// user, created, source and revoked are read-only; anything else is an
// unknown field. If-Match, when sent, must be the key's current ETag.
func (a *AdminAPI) patchKey(w http.ResponseWriter, r *http.Request, id string) error {
	var patch map[string]json.RawMessage
	if !decodeBody(w, r, &patch) {
		return nil
	}
	if patch == nil { // the body was JSON null: RFC 7396 would delete the target
		return validationFail(w, []problem.FieldError{{Field: "", Rule: "type", Message: "the body must be a JSON object (a merge patch)"}})
	}
	var (
		fe                    []problem.FieldError
		scopes, roles, cidrs  *[]string
		mdPatch               map[string]*string
		mdClear, expiresClear bool
		expires               time.Time
	)
	names := make([]string, 0, len(patch))
	for name := range patch {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		raw := patch[name]
		isNull := string(raw) == "null"
		switch name {
		case "scopes", "roles", "allow_cidr":
			list := []string{}
			if !isNull && json.Unmarshal(raw, &list) != nil {
				fe = append(fe, problem.FieldError{Field: "/" + name, Rule: "type", Message: "must be an array of strings or null"})
				continue
			}
			switch name {
			case "scopes":
				scopes = &list
			case "roles":
				roles = &list
			default:
				cidrs = &list
			}
		case "metadata":
			if isNull {
				mdClear = true
				continue
			}
			if err := json.Unmarshal(raw, &mdPatch); err != nil || mdPatch == nil {
				fe = append(fe, problem.FieldError{Field: "/metadata", Rule: "type", Message: "must be an object of strings (null removes a member) or null"})
			}
		case "expires":
			if isNull || string(raw) == `""` {
				expiresClear = true
				continue
			}
			t, err := parseExpiry(raw, a.clock())
			if err != nil {
				fe = append(fe, problem.FieldError{Field: "/expires", Rule: "format", Message: err.Error()})
				continue
			}
			expires = t
		case "id", "user", "created", "source", "revoked":
			fe = append(fe, problem.FieldError{Field: "/" + name, Rule: "readOnly", Message: "cannot be changed; create a new key instead"})
		default:
			fe = append(fe, problem.FieldError{Field: "/" + safeName(name), Rule: "additionalProperties", Message: "unknown field"})
		}
	}
	var md map[string]string
	for k, v := range mdPatch {
		if v != nil {
			if md == nil {
				md = map[string]string{}
			}
			md[k] = *v
		}
	}
	fe = checkKeyFields(fe, deref(scopes), deref(roles), md, deref(cidrs))
	if len(fe) > 0 {
		return validationFail(w, fe)
	}
	s := a.svc(w)
	if s == nil {
		return nil
	}
	rec, err := s.keys.Update(r.Context(), id, r.Header.Get("If-Match"), func(k *authn.KeyRecord) error {
		if scopes != nil {
			k.Scopes = nilIfEmpty(*scopes)
		}
		if roles != nil {
			k.Roles = nilIfEmpty(*roles)
		}
		if cidrs != nil {
			k.AllowCIDRs = canonicalCIDRs(*cidrs)
		}
		if mdClear {
			k.Metadata = nil
		}
		for mk, mv := range mdPatch {
			if mv == nil {
				delete(k.Metadata, mk)
				continue
			}
			if k.Metadata == nil {
				k.Metadata = map[string]string{}
			}
			k.Metadata[mk] = *mv
		}
		if len(k.Metadata) == 0 {
			k.Metadata = nil
		}
		switch {
		case expiresClear:
			k.Expires = time.Time{}
		case !expires.IsZero():
			k.Expires = expires
		}
		return nil
	})
	if err != nil {
		if keyMutationFailed(w, err) {
			return nil
		}
		return adminError(w, r, "updating key", err)
	}
	w.Header().Set("ETag", rec.ETag())
	return writeJSON(w, http.StatusOK, toKeyJSON(rec))
}

func deref(p *[]string) []string {
	if p == nil {
		return nil
	}
	return *p
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}
