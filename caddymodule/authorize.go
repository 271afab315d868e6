package caddymodule

import (
	"fmt"
	"net/http"
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
// set of values (see authn.ClaimRequirement).
type ClaimRequirement = authn.ClaimRequirement

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

// Validate rejects an authorization that requires nothing or holds an
// empty requirement (authn.Requirements.Check).
func (a *Authorize) Validate() error {
	if err := a.requirements().Check(); err != nil {
		return fmt.Errorf("apigw_authorize: %w", err)
	}
	return nil
}

// requirements returns a's requirements for authn.
func (a *Authorize) requirements() authn.Requirements {
	return authn.Requirements{Scopes: a.Scopes, Roles: a.Roles, Claims: a.Claims}
}

// ServeHTTP checks the identity's grants.
func (a *Authorize) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	id := IdentityOf(r)
	if id == nil {
		Audit(r, "authz_denied", problem.CodeMissingCredentials)
		return Fail(problem.New(http.StatusUnauthorized, problem.CodeMissingCredentials, "authentication is required"))
	}
	if err := a.requirements().Authorize(id); err != nil {
		p := problemFromError(err)
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
		Audit(r, "authz_denied", p.Code, zap.String("requirement", p.Detail))
		return Fail(p)
	}
	return next.ServeHTTP(w, r)
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
