package caddymodule

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/apigw/caddy-apigw/failure"
	"github.com/apigw/caddy-apigw/oidc"
	"github.com/apigw/caddy-apigw/problem"
	"github.com/apigw/caddy-apigw/store"
)

func init() {
	caddy.RegisterModule(IntrospectAuth{})
}

// IntrospectionVar is the replacer key holding the *oidc.Result of an
// accepted token ({apigw.introspection}), e.g. for proof-of-possession
// checks of its cnf.
const IntrospectionVar = "apigw.introspection"

// IntrospectAuth authenticates opaque OAuth 2.0 access tokens
// (`Authorization: Bearer <token>`) at the issuer's RFC 7662 introspection
// endpoint, with client_secret_basic. It is an authentication provider
// for Caddy's authentication handler, like apigw_jwt.
//
// Answers are cached by the SHA-256 of the token: an active one until
// min(exp, cache_ttl), an inactive one for negative_cache_ttl; concurrent
// requests for one token make one call. While the issuer is down, cached
// active answers keep working until they expire; other tokens get 503
// service_unavailable. An inactive token is 401 invalid_token. A token
// whose answer carries cnf.jkt is DPoP-bound (RFC 9449): refused as a
// Bearer token (401 invalid_token), accepted as `Authorization: DPoP` with
// a proof when DPoP is on (see DPoP). A token whose answer carries
// cnf x5t#S256 (RFC 8705) is accepted only over mutual TLS with that
// client certificate.
//
// The identity: sub is the user (client_id when the token has no sub,
// e.g. client credentials), scope the scopes ({http.auth.user.scope}),
// client_id and username metadata; the method is "introspection", or
// "dpop" when a DPoP proof was checked.
type IntrospectAuth struct {
	OIDCClient
	// IntrospectionEndpoint overrides the discovered
	// introspection_endpoint. Default: from discovery.
	IntrospectionEndpoint string `json:"introspection_endpoint,omitempty"`
	// CacheTTL caps how long an active answer is reused (never past the
	// token's exp). Default: 60s.
	CacheTTL caddy.Duration `json:"cache_ttl,omitempty"`
	// NegativeCacheTTL is how long an inactive answer is reused; at most
	// 5s. Default: 5s.
	NegativeCacheTTL caddy.Duration `json:"negative_cache_ttl,omitempty"`
	// CacheSize bounds the number of cached answers. Default: 10000.
	CacheSize int `json:"cache_size,omitempty"`
	// MaxResponseSize caps the introspection answer in bytes; a larger
	// one is a 503. Default: 64 KiB.
	MaxResponseSize int64 `json:"max_response_size,omitempty"`
	// Realm is the realm of the Bearer challenge. Default: caddy-apigw.
	Realm string `json:"realm,omitempty"`
	// PassCredential keeps the Authorization header on the request that
	// goes upstream. Default: it is removed.
	PassCredential bool `json:"pass_credential,omitempty"`
	// IdentityHeaders names the upstream headers carrying the identity
	// (default X-Auth-User), e.g. {"scope": "X-Auth-Scope"}.
	IdentityHeaders IdentityHeaders `json:"identity_headers,omitzero"`
	// DPoP accepts DPoP-bound tokens (cnf.jkt in the introspection
	// answer) as `Authorization: DPoP <token>` with a proof; the same
	// settings as apigw_jwt's (JWTDPoP). Default: off.
	DPoP *JWTDPoP `json:"dpop,omitempty"`

	dpop *jwtDPoP // nil unless DPoP is allowed or required

	disc      *oidc.Discovery
	in        *oidc.Introspector
	challenge string
	missing   *problem.Problem
	logger    *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (IntrospectAuth) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.authentication.providers.apigw_introspect",
		New: func() caddy.Module { return new(IntrospectAuth) },
	}
}

// MaxNegativeCacheTTL bounds NegativeCacheTTL.
const MaxNegativeCacheTTL = oidc.MaxNegativeCacheTTL

// Provision checks the settings. It never contacts the issuer.
func (a *IntrospectAuth) Provision(ctx caddy.Context) error {
	var st store.Store
	if a.DPoP != nil && a.DPoP.Mode != DPoPOff {
		var err error
		if st, err = StoreFrom(ctx); err != nil {
			return fmt.Errorf("apigw_introspect: %w", err)
		}
	}
	return a.provision(ctx.Logger(), st)
}

// provision is Provision with the logger and the store (for DPoP proof
// ids and nonces; nil when DPoP is off).
func (a *IntrospectAuth) provision(logger *zap.Logger, st store.Store) error {
	a.logger = logger
	var err error
	if a.disc, err = a.provisionClient("apigw_introspect"); err != nil {
		return err
	}
	if err := validateIdentityHeaders(a.IdentityHeaders); err != nil {
		return fmt.Errorf("apigw_introspect: %w", err)
	}
	endpoint := caddy.NewReplacer().ReplaceKnown(a.IntrospectionEndpoint, "")
	if err := oidc.CheckIntrospection(time.Duration(a.NegativeCacheTTL), endpoint, a.AllowInsecureLoopback, true); err != nil {
		return fmt.Errorf("apigw_introspect: %w", err)
	}
	a.in = &oidc.Introspector{
		Endpoint:     a.disc.IntrospectionEndpoint(endpoint),
		Called:       countIntrospection,
		IssuerLabel:  a.disc.Label(),
		ClientID:     a.ClientID,
		ClientSecret: a.ClientSecret,
		Client:       a.disc.Client(),
		TTL:          time.Duration(a.CacheTTL),
		NegTTL:       time.Duration(a.NegativeCacheTTL),
		MaxEntries:   a.CacheSize,
		MaxBody:      a.MaxResponseSize,
		Timeout:      time.Duration(a.Timeout),
	}
	realm := a.Realm
	if realm == "" {
		realm = DefaultJWTRealm
	}
	a.challenge = `Bearer realm=` + strconv.Quote(realm)
	a.missing = problem.New(http.StatusUnauthorized, problem.CodeMissingCredentials, "no bearer token: send Authorization: Bearer <token>").
		WithHeader("WWW-Authenticate", a.challenge)
	if err := a.provisionDPoP(st); err != nil {
		return fmt.Errorf("apigw_introspect: %w", err)
	}
	return nil
}

// Introspector returns the provider's introspection client (cache and
// call counter), for tests and for proof-of-possession wiring.
func (a *IntrospectAuth) Introspector() *oidc.Introspector { return a.in }

// Authenticate implements caddyauth.Authenticator.
func (a *IntrospectAuth) Authenticate(w http.ResponseWriter, r *http.Request) (caddyauth.User, bool, error) {
	if len(r.Header["Authorization"]) == 0 {
		a.reject(w, r, a.missing)
		return caddyauth.User{}, false, nil
	}
	token, dpopScheme, ok := a.tokenFrom(r)
	if !ok {
		a.reject(w, r, a.invalid(failure.New(failure.ErrInvalidToken, a.schemeHint())))
		return caddyauth.User{}, false, nil
	}
	res, err := a.in.Introspect(r.Context(), token)
	if err != nil {
		a.logger.Warn("token introspection unavailable", zap.String("issuer", a.Issuer), zap.Error(err))
		a.reject(w, r, oidcUnavailable("the token cannot be checked", err))
		return caddyauth.User{}, false, nil
	}
	id, err := res.Admit(oidc.Presentation{DPoP: dpopScheme, DPoPRequired: a.dpop != nil && a.dpop.mode == DPoPRequired, TLS: r.TLS})
	if err != nil {
		a.reject(w, r, a.invalid(err))
		return caddyauth.User{}, false, nil
	}
	// after the (cached) introspection, never from the cache: a proof
	// belongs to this request
	if dpopScheme && !a.checkProof(w, r, token, res.CnfJKT) {
		return caddyauth.User{}, false, nil
	}
	if !a.PassCredential {
		delete(r.Header, "Authorization")
		delete(r.Header, dpopHeader) // a proof is a credential too
	}
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		repl.Set(IntrospectionVar, res)
	}
	if c := a.logger.Check(zapcore.DebugLevel, "introspected token accepted"); c != nil {
		c.Write(zap.String("user", id.ID))
	}
	return PublishIdentity(r, id, a.IdentityHeaders), true, nil
}

// reject records why the request was refused; the renderer answers with
// it. An outage is audited as auth_unavailable, a missing credential not
// at all.
func (a *IntrospectAuth) reject(w http.ResponseWriter, r *http.Request, p *problem.Problem) {
	switch p.Code {
	case problem.CodeMissingCredentials:
		RequestID(w, r)
		RecordAuthFailure(r, p)
	case problem.CodeServiceUnavailable:
		RequestID(w, r)
		RecordAuthFailure(r, p)
		Audit(r, "auth_unavailable", p.Code, zap.String("provider", "apigw_introspect"))
	default:
		authFailed(w, r, "apigw_introspect", p, zap.String("reason", p.Detail))
	}
}

// Interface guards
var (
	_ caddy.Provisioner       = (*IntrospectAuth)(nil)
	_ caddyauth.Authenticator = (*IntrospectAuth)(nil)
)
