package caddymodule

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/apigw/caddy-apigw/authn"
	"github.com/apigw/caddy-apigw/problem"
)

func init() {
	caddy.RegisterModule(MTLSAuth{})
	registerGatewayHandlerDirective("apigw_mtls", parseMTLSCaddyfile)
}

// MTLSAuth authenticates requests by the client certificate of the TLS
// connection (mutual TLS). Caddy verifies the certificate in the
// handshake: configure the site's `tls { client_auth { mode
// require_and_verify (or verify_if_given); trust_pool ... } }`. This
// provider accepts only a certificate that Caddy verified against that
// trust pool, and maps it to an identity (method "mtls"): the user id from
// a certificate field (subject CN, SAN URI/DNS/email, SPIFFE ID, ...) and
// scopes and roles from patterns on those fields, so apigw_authorize and
// rate-limit keys work as for any other method. EXPERIMENTAL.
type MTLSAuth struct {
	// UserFrom lists the certificate fields the user id is read from, in
	// order; the first one the certificate has wins. Fields: cn, subject,
	// o, ou, san_dns, san_uri, san_email, spiffe_id. Default: cn.
	UserFrom []string `json:"user_from,omitempty"`
	// Grants give scopes and roles to certificates whose field matches a
	// glob pattern ("*" any run of characters, "?" one character).
	Grants []MTLSGrant `json:"grants,omitempty"`
	// IdentityHeaders names the upstream headers carrying the identity:
	// the user (default X-Auth-User) and claims (subject, issuer, serial,
	// spiffe_id, x5t#S256, scope, roles).
	IdentityHeaders IdentityHeaders `json:"identity_headers,omitzero"`

	mapper            *authn.CertMapper
	missing, untrusts *problem.Problem
	logger            *zap.Logger
}

// MTLSGrant gives scopes and roles to matching certificates.
type MTLSGrant struct {
	// Field is the certificate field: cn, subject, o, ou, san_dns,
	// san_uri, san_email or spiffe_id.
	Field string `json:"field"`
	// Pattern is a glob matched against each value of the field, e.g.
	// "spiffe://example.org/billing/*".
	Pattern string `json:"pattern"`
	// Scopes are granted on a match.
	Scopes []string `json:"scopes,omitempty"`
	// Roles are granted on a match.
	Roles []string `json:"roles,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (MTLSAuth) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.authentication.providers.apigw_mtls",
		New: func() caddy.Module { return new(MTLSAuth) },
	}
}

// Provision builds the certificate mapper.
func (m *MTLSAuth) Provision(ctx caddy.Context) error {
	return m.provision(ctx.Logger())
}

func (m *MTLSAuth) provision(logger *zap.Logger) error {
	m.logger = logger
	if err := validateIdentityHeaders(m.IdentityHeaders); err != nil {
		return fmt.Errorf("apigw_mtls: %w", err)
	}
	grants := make([]authn.CertGrant, 0, len(m.Grants))
	for _, g := range m.Grants {
		grants = append(grants, authn.CertGrant{Field: g.Field, Pattern: g.Pattern, Scopes: g.Scopes, Roles: g.Roles})
	}
	mapper, err := authn.NewCertMapper(m.UserFrom, grants)
	if err != nil {
		return fmt.Errorf("apigw_mtls: %w", err)
	}
	m.mapper = mapper
	m.missing = problem.New(http.StatusUnauthorized, problem.CodeMissingCredentials,
		"a client certificate is required (mutual TLS)")
	m.untrusts = problem.New(http.StatusUnauthorized, problem.CodeInvalidCredentials,
		"the client certificate is not verified by a trusted CA")
	return nil
}

// Authenticate implements caddyauth.Authenticator.
func (m *MTLSAuth) Authenticate(w http.ResponseWriter, r *http.Request) (caddyauth.User, bool, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		m.reject(w, r, m.missing)
		return caddyauth.User{}, false, nil
	}
	// only a chain Caddy verified (client_auth mode require_and_verify or
	// verify_if_given): "request" and "require" hand over any certificate
	if len(r.TLS.VerifiedChains) == 0 {
		m.reject(w, r, m.untrusts)
		return caddyauth.User{}, false, nil
	}
	id, err := m.mapper.Identity(r.TLS.PeerCertificates[0])
	if err != nil {
		m.reject(w, r, problem.New(http.StatusUnauthorized, problem.CodeInvalidCredentials, err.Error()))
		return caddyauth.User{}, false, nil
	}
	if c := m.logger.Check(zapcore.DebugLevel, "client certificate accepted"); c != nil {
		c.Write(zap.String("user", id.ID))
	}
	return PublishIdentity(r, id, m.IdentityHeaders), true, nil
}

func (m *MTLSAuth) reject(w http.ResponseWriter, r *http.Request, p *problem.Problem) {
	RequestID(w, r)
	RecordAuthFailure(r, p)
	Audit(r, "auth_failed", p.Code, zap.String("provider", "apigw_mtls"), zap.String("reason", p.Detail))
}

// parseMTLSCaddyfile sets up the apigw_mtls directive. Syntax:
//
//	apigw_mtls [<matcher>] {
//	    user_from <field...>            # default cn; fields: cn subject o ou san_dns san_uri san_email spiffe_id
//	    grant <field> <glob> {          # repeatable
//	        scopes <scope...>
//	        roles <role...>
//	    }
//	    user_header <header>|-
//	    claim_header <claim> <header>
//	}
func parseMTLSCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	h.Next() // consume directive name
	if h.NextArg() {
		return nil, h.Errf("apigw_mtls takes no arguments, only a block")
	}
	m := new(MTLSAuth)
	field := func(f string) error {
		if !slices.Contains(authn.CertFields, f) {
			return h.Errf("unknown certificate field %q (known: %s)", f, strings.Join(authn.CertFields, " "))
		}
		return nil
	}
	for h.NextBlock(0) {
		if ok, err := parseIdentityHeaderOption(h.Dispenser, &m.IdentityHeaders); ok {
			if err != nil {
				return nil, err
			}
			continue
		}
		switch h.Val() {
		case "user_from":
			fs := h.RemainingArgs()
			if len(fs) == 0 {
				return nil, h.ArgErr()
			}
			for _, f := range fs {
				if err := field(f); err != nil {
					return nil, err
				}
			}
			m.UserFrom = append(m.UserFrom, fs...)
		case "grant":
			var g MTLSGrant
			if !h.Args(&g.Field, &g.Pattern) || h.NextArg() {
				return nil, h.Errf("grant needs <field> <glob> and a block, e.g. grant spiffe_id spiffe://example.org/billing/* { scopes billing }")
			}
			if err := field(g.Field); err != nil {
				return nil, err
			}
			for nesting := h.Nesting(); h.NextBlock(nesting); {
				opt := h.Val()
				args := h.RemainingArgs()
				switch opt {
				case "scopes":
					g.Scopes = append(g.Scopes, args...)
				case "roles":
					g.Roles = append(g.Roles, args...)
				default:
					return nil, h.Errf("unknown grant option %q (known: scopes roles)", opt)
				}
				if len(args) == 0 {
					return nil, h.ArgErr()
				}
			}
			if len(g.Scopes) == 0 && len(g.Roles) == 0 {
				return nil, h.Errf("grant %s %s grants nothing: add scopes or roles", g.Field, g.Pattern)
			}
			m.Grants = append(m.Grants, g)
		default:
			return nil, h.Errf("unknown apigw_mtls option %q (known: user_from grant user_header claim_header)", h.Val())
		}
	}
	return caddyauth.Authentication{
		ProvidersRaw: caddy.ModuleMap{"apigw_mtls": caddyconfig.JSON(m, nil)},
	}, nil
}

// Interface guards
var (
	_ caddy.Provisioner       = (*MTLSAuth)(nil)
	_ caddyauth.Authenticator = (*MTLSAuth)(nil)
)
