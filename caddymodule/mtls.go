package caddymodule

import (
	"fmt"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
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

	mapper *authn.CertMapper
	logger *zap.Logger
}

// MTLSGrant gives scopes and roles to certificates whose field matches
// a glob pattern.
type MTLSGrant = authn.CertGrant

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
	mapper, err := authn.NewCertMapper(m.UserFrom, m.Grants)
	if err != nil {
		return fmt.Errorf("apigw_mtls: %w", err)
	}
	m.mapper = mapper
	return nil
}

// Authenticate implements caddyauth.Authenticator.
func (m *MTLSAuth) Authenticate(w http.ResponseWriter, r *http.Request) (caddyauth.User, bool, error) {
	id, err := m.mapper.Authenticate(r.TLS)
	if err != nil {
		m.reject(w, r, problemFromError(err))
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
	m := new(MTLSAuth)
	d := h.Dispenser
	err := parseProviderBlock(h, "apigw_mtls", &m.IdentityHeaders, func(opt string) error {
		switch opt {
		case "user_from":
			fs := d.RemainingArgs()
			if len(fs) == 0 {
				return d.ArgErr()
			}
			m.UserFrom = append(m.UserFrom, fs...)
		case "grant":
			g, err := parseMTLSGrant(d)
			if err != nil {
				return err
			}
			m.Grants = append(m.Grants, g)
		default:
			return d.Errf("unknown apigw_mtls option %q (known: user_from grant user_header claim_header)", opt)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if _, err := authn.NewCertMapper(m.UserFrom, m.Grants); err != nil {
		return nil, h.Errf("apigw_mtls: %v", err)
	}
	return authProvider("apigw_mtls", m), nil
}

// parseMTLSGrant reads `grant <field> <glob> { scopes …; roles … }`.
func parseMTLSGrant(d *caddyfile.Dispenser) (MTLSGrant, error) {
	var g MTLSGrant
	if !d.Args(&g.Field, &g.Pattern) || d.NextArg() {
		return g, d.Errf("grant needs <field> <glob> and a block, e.g. grant spiffe_id spiffe://example.org/billing/* { scopes billing }")
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		args := d.RemainingArgs()
		switch opt {
		case "scopes":
			g.Scopes = append(g.Scopes, args...)
		case "roles":
			g.Roles = append(g.Roles, args...)
		default:
			return g, d.Errf("unknown grant option %q (known: scopes roles)", opt)
		}
		if len(args) == 0 {
			return g, d.ArgErr()
		}
	}
	return g, nil
}

// Interface guards
var (
	_ caddy.Provisioner       = (*MTLSAuth)(nil)
	_ caddyauth.Authenticator = (*MTLSAuth)(nil)
)
