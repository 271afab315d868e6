package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/apigw/caddy-apigw/authn"
	"github.com/apigw/caddy-apigw/failure"
	"github.com/apigw/caddy-apigw/problem"
	"github.com/apigw/caddy-apigw/store"
)

func init() {
	caddy.RegisterModule(APIKeyAuth{})
	registerGatewayHandlerDirective("apigw_api_key", parseAPIKeyCaddyfile)
}

// DefaultAPIKeyHeader is the request header that carries the API key.
const DefaultAPIKeyHeader = "X-API-Key"

// APIKeyAuth authenticates requests by an API key in a request header. It
// is an authentication provider for Caddy's `authentication` handler.
//
// Configured keys exist only as SHA-256 digests; a presented key is hashed
// and looked up by digest, with a constant-time final comparison. Each key
// maps to an identity ({http.auth.user.id} is its user) with scopes,
// roles and metadata, and may be limited to client CIDRs and an expiry.
// Keys created at runtime over the admin API (/apigw/keys) are accepted
// too, and any key revoked there stops working on every instance sharing
// the store. The key header is removed before the request goes upstream.
//
// Keys in query strings are not supported on purpose: URLs end up in
// access logs, browser histories and Referer headers.
type APIKeyAuth struct {
	// Keys are the configured keys.
	Keys []APIKey `json:"keys,omitempty"`
	// Header is the request header carrying the key. Default: X-API-Key.
	Header string `json:"header,omitempty"`
	// PassCredential keeps the key header on the request that goes
	// upstream. Default: the header is removed.
	PassCredential bool `json:"pass_credential,omitempty"`
	// DisableRuntimeKeys accepts only the keys configured here, not the
	// ones created over the admin API. Default: runtime keys are accepted.
	DisableRuntimeKeys bool `json:"disable_runtime_keys,omitempty"`
	// IdentityHeaders names the upstream headers that carry the identity
	// (default X-Auth-User for the user; metadata via claims, e.g.
	// {"key_id": "X-Auth-Key-Id"}).
	IdentityHeaders IdentityHeaders `json:"identity_headers,omitzero"`

	header     string
	keys       *authn.APIKeys
	unregister func()
	logger     *zap.Logger
	publisher  *IdentityPublisher
	challenge  string // the WWW-Authenticate challenge of a 401

	missing, invalid *problem.Problem
}

// APIKey is one configured API key (see authn.APIKeyConfig).
type APIKey = authn.APIKeyConfig

// CaddyModule returns the Caddy module information.
func (APIKeyAuth) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.authentication.providers.apigw_api_key",
		New: func() caddy.Module { return new(APIKeyAuth) },
	}
}

// Provision decodes the keys and connects to the shared store.
func (a *APIKeyAuth) Provision(ctx caddy.Context) error {
	return provisionWithStore(ctx, "apigw_api_key", a.provision, &a.header)
}

func (a *APIKeyAuth) provision(logger *zap.Logger, st store.Store) error {
	a.publisher = NewIdentityPublisher(a.IdentityHeaders)
	a.logger = logger
	a.header = DefaultAPIKeyHeader
	if a.Header != "" {
		a.header = a.Header
	}
	if !validHeaderName(a.header) {
		return fmt.Errorf("apigw_api_key: header %q is not a valid header name", a.header)
	}
	display := a.header
	a.header = canonicalHeader(a.header)
	if err := validateIdentityHeaders(a.IdentityHeaders); err != nil {
		return fmt.Errorf("apigw_api_key: %w", err)
	}
	keys, err := authn.NewAPIKeys(a.Keys, authn.NewKeyStore(st), !a.DisableRuntimeKeys)
	if err != nil {
		return fmt.Errorf("apigw_api_key: %w", err)
	}
	a.keys = keys
	a.unregister = keys.Register("apigw_api_key")

	a.challenge = `ApiKey header="` + display + `"`
	a.missing = problem.New(http.StatusUnauthorized, problem.CodeMissingCredentials,
		"an API key is required in the "+display+" header").WithHeader("WWW-Authenticate", a.challenge)
	a.invalid = problemFromError(failure.New(failure.ErrInvalidAPIKey, "API key is invalid")).
		WithHeader("WWW-Authenticate", a.challenge)
	return nil
}

// Cleanup removes this provider's keys from the admin listing.
func (a *APIKeyAuth) Cleanup() error {
	if a.unregister != nil {
		a.unregister()
	}
	return nil
}

// Authenticate implements caddyauth.Authenticator.
func (a *APIKeyAuth) Authenticate(w http.ResponseWriter, r *http.Request) (caddyauth.User, bool, error) {
	vals := r.Header[a.header]
	if len(vals) == 0 || vals[0] == "" {
		authFailed(w, r, "apigw_api_key", a.missing)
		return caddyauth.User{}, false, nil
	}
	if len(vals) > 1 {
		authFailed(w, r, "apigw_api_key", a.invalid)
		return caddyauth.User{}, false, nil
	}
	id, err := a.keys.Authenticate(r.Context(), vals[0], clientAddr(r), time.Now())
	if err != nil {
		a.fail(w, r, err)
		return caddyauth.User{}, false, nil
	}
	if !a.PassCredential {
		delete(r.Header, a.header)
	}
	if c := a.logger.Check(zapcore.DebugLevel, "api key accepted"); c != nil {
		c.Write(zap.String("user", id.ID), zap.Any("key_id", id.Claims["key_id"]))
	}
	return a.publisher.Publish(r, id), true, nil
}

// fail records the refusal err of authn.APIKeys.Authenticate: a 503 when
// the store failed, else 401 invalid_api_key (every refusal has the one
// detail of a.invalid), with the key's id and the reason in the audit
// entry when the key exists.
func (a *APIKeyAuth) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, failure.ErrUnavailable) {
		authUnavailable(w, r, a.logger, "apigw_api_key", "key store unavailable; rejecting request", err,
			problemFromError(err).WithHeader("Retry-After", "1"))
		return
	}
	var refused *authn.KeyRefused
	if errors.As(err, &refused) {
		authFailed(w, r, "apigw_api_key", a.invalid, zap.String("reason", refused.Reason), zap.String("key_id", refused.KeyID))
		return
	}
	authFailed(w, r, "apigw_api_key", a.invalid)
}

// clientAddr returns the client IP Caddy determined (honouring
// trusted_proxies), or the zero Addr.
func clientAddr(r *http.Request) netip.Addr {
	s, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
	if s == "" {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

// parseAPIKeyCaddyfile sets up the apigw_api_key directive. Syntax:
//
//	apigw_api_key [<matcher>] {
//	    key <sha256-hex> <user> {
//	        id <id>
//	        scopes <scope...>
//	        roles <role...>
//	        metadata <name> <value>
//	        allow_cidr <cidr...>
//	        expires <RFC3339>
//	    }
//	    header <name>
//	    pass_credential
//	    no_runtime_keys
//	    user_header <header>|-
//	    claim_header <claim> <header>
//	}
func parseAPIKeyCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	h.Next() // consume directive name
	if h.NextArg() {
		return nil, h.Errf("apigw_api_key takes no arguments, only a block")
	}
	a := new(APIKeyAuth)
	err := parseAuthBlock(h.Dispenser, &a.IdentityHeaders, func(name string) error {
		switch name {
		case "key":
			args := h.RemainingArgs()
			if len(args) != 2 {
				return h.Errf("key needs <sha256-hex> <user> (hash the key: printf %%s \"$KEY\" | sha256sum)")
			}
			k := APIKey{Hash: strings.ToLower(args[0]), User: args[1]}
			for nesting := h.Nesting(); h.NextBlock(nesting); {
				switch h.Val() {
				case "id":
					if !h.AllArgs(&k.ID) {
						return h.ArgErr()
					}
				case "scopes":
					k.Scopes = append(k.Scopes, h.RemainingArgs()...)
				case "roles":
					k.Roles = append(k.Roles, h.RemainingArgs()...)
				case "metadata":
					var mname, mval string
					if !h.AllArgs(&mname, &mval) {
						return h.Errf("metadata needs <name> <value>")
					}
					if k.Metadata == nil {
						k.Metadata = map[string]string{}
					}
					k.Metadata[mname] = mval
				case "allow_cidr":
					cidrs := h.RemainingArgs()
					if len(cidrs) == 0 {
						return h.ArgErr()
					}
					k.AllowCIDRs = append(k.AllowCIDRs, cidrs...)
				case "expires":
					if !h.AllArgs(&k.Expires) {
						return h.ArgErr()
					}
				default:
					return h.Errf("unknown key option %q (known: id scopes roles metadata allow_cidr expires)", h.Val())
				}
			}
			a.Keys = append(a.Keys, k)
		case "header":
			if !h.AllArgs(&a.Header) {
				return h.ArgErr()
			}
			if !validHeaderName(a.Header) {
				return h.Errf("header %q is not a valid header name", a.Header)
			}
		case "query":
			return h.Errf("API keys in query strings are not supported: URLs are logged; send the key in a header")
		case "pass_credential":
			if h.NextArg() {
				return h.ArgErr()
			}
			a.PassCredential = true
		case "no_runtime_keys":
			if h.NextArg() {
				return h.ArgErr()
			}
			a.DisableRuntimeKeys = true
		default:
			return h.Errf("unknown apigw_api_key option %q (known: key header pass_credential no_runtime_keys user_header claim_header)", name)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// the check Provision makes (a key hash given as a placeholder is
	// left to Provision)
	if !slices.ContainsFunc(a.Keys, func(k APIKey) bool { return strings.Contains(k.Hash, "{") }) {
		if _, err := authn.NewAPIKeys(a.Keys, nil, !a.DisableRuntimeKeys); err != nil {
			return nil, h.Errf("apigw_api_key: %v", err)
		}
	}
	return caddyauth.Authentication{
		ProvidersRaw: caddy.ModuleMap{"apigw_api_key": caddyconfig.JSON(a, nil)},
	}, nil
}

// Interface guards
var (
	_ caddy.Provisioner       = (*APIKeyAuth)(nil)
	_ caddy.CleanerUpper      = (*APIKeyAuth)(nil)
	_ caddyauth.Authenticator = (*APIKeyAuth)(nil)
)
