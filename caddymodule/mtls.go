package caddymodule

import (
	"fmt"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/apigw/caddy-apigw/authn"
	"github.com/apigw/caddy-apigw/problem"
)

func init() {
	caddy.RegisterModule(MTLSAuth{})
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
	authFailed(w, r, "apigw_mtls", p, zap.String("reason", p.Detail))
}

// Interface guards
var (
	_ caddy.Provisioner       = (*MTLSAuth)(nil)
	_ caddyauth.Authenticator = (*MTLSAuth)(nil)
)
