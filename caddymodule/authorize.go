package caddymodule

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/apigw/caddy-apigw/authn"
	"github.com/apigw/caddy-apigw/problem"
)

func init() {
	caddy.RegisterModule(Authorize{})
	registerGatewayHandlerDirective("apigw_authorize", parseAuthorize)
}

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

// Authorize lets a request through only if the authenticated identity
// (from any provider: API key, JWT, session) meets every requirement:
//
//   - Scopes: the identity has ALL of these scopes (OAuth convention).
//   - Roles: for each group, the identity has AT LEAST ONE role of it.
//   - Claims: for each requirement, the claim matches AT LEAST ONE value.
//
// Without an identity it answers 401 missing_credentials; when a
// requirement fails, 403 insufficient_scope, with
// `WWW-Authenticate: Bearer error="insufficient_scope", scope="..."` for
// JWT identities (RFC 6750).
type Authorize struct {
	// Scopes lists the scopes that are all required.
	Scopes []string `json:"scopes,omitempty"`
	// Roles lists groups of roles; each group needs one of its roles.
	Roles [][]string `json:"roles,omitempty"`
	// Claims lists claim requirements; each must hold.
	Claims []ClaimRequirement `json:"claims,omitempty"`

	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Authorize) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.apigw_authorize",
		New: func() caddy.Module { return new(Authorize) },
	}
}

// Provision sets up the handler.
func (a *Authorize) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	RedactCredentialHeaders(ctx, "")
	return nil
}

// Validate rejects an authorization that requires nothing.
func (a *Authorize) Validate() error {
	if len(a.Scopes) == 0 && len(a.Roles) == 0 && len(a.Claims) == 0 {
		return errors.New("apigw_authorize: no requirement: add `scope`, `role` or `claim`")
	}
	for _, g := range a.Roles {
		if len(g) == 0 {
			return errors.New("apigw_authorize: empty role group")
		}
	}
	for _, c := range a.Claims {
		if c.Name == "" || len(c.Values) == 0 {
			return errors.New("apigw_authorize: a claim requirement needs a name and at least one value")
		}
	}
	return nil
}

// ServeHTTP checks the identity's grants.
func (a *Authorize) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	id := IdentityOf(r)
	if id == nil {
		Audit(r, "authz_denied", problem.CodeMissingCredentials)
		return Fail(problem.New(http.StatusUnauthorized, problem.CodeMissingCredentials, "authentication is required"))
	}
	if detail := a.check(id); detail != "" {
		p := problem.New(http.StatusForbidden, problem.CodeInsufficientScope, detail)
		if id.Method == "jwt" || id.Method == "dpop" {
			chal := `Bearer error="insufficient_scope"`
			if id.Method == "dpop" {
				chal = `DPoP error="insufficient_scope"` // RFC 9449 §7.1
			}
			if len(a.Scopes) > 0 {
				chal += `, scope="` + strings.Join(a.Scopes, " ") + `"`
			}
			p.WithHeader("WWW-Authenticate", chal)
		}
		Audit(r, "authz_denied", problem.CodeInsufficientScope, zap.String("requirement", detail))
		return Fail(p)
	}
	return next.ServeHTTP(w, r)
}

// check returns "" if id meets every requirement, else what is missing.
func (a *Authorize) check(id *authn.Identity) string {
	var missing []string
	for _, s := range a.Scopes {
		if !id.HasScope(s) {
			missing = append(missing, s)
		}
	}
	if len(missing) > 0 {
		return "requires scope " + strings.Join(missing, " ")
	}
	for _, g := range a.Roles {
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
	for _, c := range a.Claims {
		if !claimMatches(id, c) {
			return "requires claim " + c.Name + " to be " + strings.Join(c.Values, " or ")
		}
	}
	return ""
}

func claimMatches(id *authn.Identity, c ClaimRequirement) bool {
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

// parseAuthorize sets up the handler from Caddyfile tokens. Syntax:
//
//	apigw_authorize [<matcher>] {
//	    scope <scope>...          # all of these scopes
//	    role  <role>...           # at least one of these roles
//	    claim <name> <value>...   # the claim has one of these values
//	}
//
// Several lines must all hold.
func parseAuthorize(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	h.Next() // consume directive name
	if h.NextArg() {
		return nil, h.ArgErr()
	}
	a := new(Authorize)
	for h.NextBlock(0) {
		switch opt := h.Val(); opt {
		case "scope", "scopes":
			args := h.RemainingArgs()
			if len(args) == 0 {
				return nil, h.ArgErr()
			}
			a.Scopes = append(a.Scopes, args...)
		case "role", "roles":
			args := h.RemainingArgs()
			if len(args) == 0 {
				return nil, h.ArgErr()
			}
			a.Roles = append(a.Roles, args)
		case "claim":
			args := h.RemainingArgs()
			if len(args) < 2 {
				return nil, h.Errf("apigw_authorize: claim needs a name and at least one value: `claim <name> <value>...`")
			}
			a.Claims = append(a.Claims, ClaimRequirement{Name: args[0], Values: args[1:]})
		default:
			return nil, h.Errf("apigw_authorize: unrecognized option %q (known: scope, role, claim)", opt)
		}
	}
	if err := a.Validate(); err != nil {
		return nil, h.Err(err.Error())
	}
	return a, nil
}

// Interface guards
var (
	_ caddyhttp.MiddlewareHandler = (*Authorize)(nil)
	_ caddy.Provisioner           = (*Authorize)(nil)
	_ caddy.Validator             = (*Authorize)(nil)
)
