package authn

import (
	"errors"
	"strconv"
	"strings"

	"github.com/apigw/caddy-apigw/failure"
)

// ClaimRequirement requires a claim (or metadata field) to have one of a
// set of values.
type ClaimRequirement struct {
	// Name is the claim name; a dotted path ("realm_access.roles") reaches
	// into nested JSON objects. "sub"/"id" is the identity's id,
	// "scope"/"scp" its scopes, "roles" its roles, "method" its auth
	// method.
	Name string `json:"name"`
	// Values are the accepted values: the claim must equal one of them or,
	// for an array or space-separated claim, contain one of them.
	Values []string `json:"values"`
}

// Requirements are what an identity (from any method) must have to be
// let through:
//
//   - Scopes: ALL of these scopes (OAuth convention);
//   - Roles: for each group, AT LEAST ONE of its roles;
//   - Claims: for each requirement, the claim matches AT LEAST ONE value.
type Requirements struct {
	// Scopes are all required.
	Scopes []string
	// Roles are groups of roles; each group needs one of its roles.
	Roles [][]string
	// Claims must each hold.
	Claims []ClaimRequirement
}

// Check refuses requirements that require nothing or hold an empty role
// group or claim requirement: the one check of an authorization's
// configuration.
func (q Requirements) Check() error {
	if len(q.Scopes) == 0 && len(q.Roles) == 0 && len(q.Claims) == 0 {
		return errors.New("no requirement: add `scope`, `role` or `claim`")
	}
	for _, g := range q.Roles {
		if len(g) == 0 {
			return errors.New("empty role group")
		}
	}
	for _, c := range q.Claims {
		if c.Name == "" || len(c.Values) == 0 {
			return errors.New("a claim requirement needs a name and at least one value")
		}
	}
	return nil
}

// Authorize returns nil if id meets every requirement, else a
// failure.ErrInsufficientScope saying what is missing.
func (q Requirements) Authorize(id *Identity) error {
	if detail := q.missing(id); detail != "" {
		return failure.New(failure.ErrInsufficientScope, detail)
	}
	return nil
}

// missing returns "" if id meets every requirement, else what is missing.
func (q Requirements) missing(id *Identity) string {
	var missing []string
	for _, s := range q.Scopes {
		if !id.HasScope(s) {
			missing = append(missing, s)
		}
	}
	if len(missing) > 0 {
		return "requires scope " + strings.Join(missing, " ")
	}
	for _, g := range q.Roles {
		ok := false
		for _, role := range g {
			if id.HasRole(role) {
				ok = true
				break
			}
		}
		if !ok {
			return "requires role " + strings.Join(g, " or ")
		}
	}
	for _, c := range q.Claims {
		if !claimMatches(id, c) {
			return "requires claim " + c.Name + " to be " + strings.Join(c.Values, " or ")
		}
	}
	return ""
}

// claimMatches reports whether id's claim c.Name has one of c.Values.
func claimMatches(id *Identity, c ClaimRequirement) bool {
	var have []string
	switch c.Name {
	case "sub", "id":
		have = []string{id.ID}
	case "scope", "scp":
		have = id.Scopes
	case "roles":
		have = id.Roles
	case "method":
		have = []string{id.Method}
	default:
		v, ok := lookupClaim(id.Claims, c.Name)
		if !ok {
			return false
		}
		have = claimStrings(v)
	}
	for _, h := range have {
		for _, want := range c.Values {
			if h == want {
				return true
			}
		}
	}
	return false
}

// lookupClaim finds name in claims, first as a whole, then as a dotted
// path into nested objects.
func lookupClaim(claims map[string]any, name string) (any, bool) {
	if v, ok := claims[name]; ok {
		return v, true
	}
	cur := any(claims)
	for _, part := range strings.Split(name, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// claimStrings turns a claim value into the strings it grants: a string's
// space-separated words, an array's elements, a number or bool as text.
func claimStrings(v any) []string {
	switch t := v.(type) {
	case string:
		if strings.ContainsAny(t, " \t") {
			return append(strings.Fields(t), t)
		}
		return []string{t}
	case []string:
		return t
	case []any:
		out := make([]string, 0, len(t))
		for _, x := range t {
			out = append(out, claimStrings(x)...)
		}
		return out
	case bool:
		return []string{strconv.FormatBool(t)}
	case float64:
		return []string{strconv.FormatFloat(t, 'f', -1, 64)}
	case int:
		return []string{strconv.Itoa(t)}
	case int64:
		return []string{strconv.FormatInt(t, 10)}
	}
	return nil
}
