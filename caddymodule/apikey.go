package caddymodule

import (
	"fmt"
	"net/http"
	"net/netip"
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
	keys       *authn.KeySet
	revokedKey map[string]string // key id → precomputed store key of its revocation marker
	keyStore   *authn.KeyStore
	unregister func()
	logger     *zap.Logger
	publisher  *IdentityPublisher

	missing, invalid, unavailable *problem.Problem
}

// APIKey is one configured API key.
type APIKey struct {
	// Hash is the lowercase hex SHA-256 digest of the key
	// (`printf %s "$KEY" | sha256sum`). The key itself is never configured.
	Hash string `json:"hash"`
	// User is the identity the key authenticates as.
	User string `json:"user"`
	// ID names the key in logs, listings and revocations (default: the
	// user; ids must be unique within a provider).
	ID string `json:"id,omitempty"`
	// Scopes granted to the key.
	Scopes []string `json:"scopes,omitempty"`
	// Roles granted to the key.
	Roles []string `json:"roles,omitempty"`
	// Metadata is published with the identity ({http.auth.user.<name>}).
	Metadata map[string]string `json:"metadata,omitempty"`
	// AllowCIDRs, if set, limits the client addresses (as determined by
	// Caddy, honouring trusted_proxies) that may use the key.
	AllowCIDRs []string `json:"allow_cidrs,omitempty"`
	// Expires is an RFC 3339 time after which the key stops working.
	Expires string `json:"expires,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (APIKeyAuth) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.authentication.providers.apigw_api_key",
		New: func() caddy.Module { return new(APIKeyAuth) },
	}
}

// Provision decodes the keys and connects to the shared store.
func (a *APIKeyAuth) Provision(ctx caddy.Context) error {
	st, err := StoreFrom(ctx)
	if err != nil {
		return fmt.Errorf("apigw_api_key: %w", err)
	}
	if err := a.provision(ctx.Logger(), st); err != nil {
		return err
	}
	RedactCredentialHeaders(ctx, "", a.header)
	return nil
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
	keys := make([]authn.ConfigKey, 0, len(a.Keys))
	a.revokedKey = make(map[string]string, len(a.Keys))
	for i, k := range a.Keys {
		ck, err := k.configKey()
		if err != nil {
			return fmt.Errorf("apigw_api_key: key %d: %w", i, err)
		}
		keys = append(keys, ck)
		a.revokedKey[ck.Record.ID] = authn.RevokedKey(ck.Record.ID)
	}
	ks, err := authn.NewKeySet(keys)
	if err != nil {
		return fmt.Errorf("apigw_api_key: %w", err)
	}
	if ks.Len() == 0 && a.DisableRuntimeKeys {
		return fmt.Errorf("apigw_api_key: no keys: add `key <sha256-hex> <user>` or allow runtime keys")
	}
	a.keys = ks
	a.keyStore = authn.NewKeyStore(st)
	a.unregister = authn.RegisterConfigKeySet("apigw_api_key", ks)

	challenge := `ApiKey header="` + display + `"`
	a.missing = problem.New(http.StatusUnauthorized, problem.CodeMissingCredentials,
		"an API key is required in the "+display+" header").WithHeader("WWW-Authenticate", challenge)
	a.invalid = problem.New(http.StatusUnauthorized, problem.CodeInvalidAPIKey,
		"API key is invalid").WithHeader("WWW-Authenticate", challenge)
	a.unavailable = problem.New(http.StatusServiceUnavailable, problem.CodeServiceUnavailable,
		"credentials cannot be checked right now").WithHeader("Retry-After", "1")
	return nil
}

// configKey checks and converts one configured key.
func (k APIKey) configKey() (authn.ConfigKey, error) {
	var ck authn.ConfigKey
	h, err := authn.ParseKeyHash(k.Hash)
	if err != nil {
		return ck, err
	}
	if k.User == "" {
		return ck, fmt.Errorf("key has no user")
	}
	ck.Hash = h
	ck.Record = authn.KeyRecord{
		ID: k.ID, User: k.User, Scopes: k.Scopes, Roles: k.Roles,
		Metadata: k.Metadata, Source: authn.SourceConfig,
	}
	if ck.Record.ID == "" {
		ck.Record.ID = k.User
	}
	for _, c := range k.AllowCIDRs {
		p, err := parseCIDR(c)
		if err != nil {
			return ck, fmt.Errorf("key %q: %w", ck.Record.ID, err)
		}
		ck.AllowCIDRs = append(ck.AllowCIDRs, p)
		ck.Record.AllowCIDRs = append(ck.Record.AllowCIDRs, p.String())
	}
	if k.Expires != "" {
		t, err := time.Parse(time.RFC3339, k.Expires)
		if err != nil {
			return ck, fmt.Errorf("key %q: expires must be RFC 3339 (2026-12-31T23:59:59Z): %w", ck.Record.ID, err)
		}
		ck.Record.Expires = t
	}
	return ck, nil
}

// parseCIDR accepts a CIDR or a single address.
func parseCIDR(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, fmt.Errorf("allow_cidr %q is not a CIDR: %w", s, err)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("allow_cidr %q is not a CIDR or IP: %w", s, err)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
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
		a.reject(w, r, a.missing, "")
		return caddyauth.User{}, false, nil
	}
	if len(vals) > 1 {
		a.reject(w, r, a.invalid, "")
		return caddyauth.User{}, false, nil
	}
	presented := vals[0]
	check, id, rec := a.keys.Match(presented, clientAddr(r), time.Now())
	switch check {
	case authn.KeyValid:
		revoked, err := a.keyStore.MarkerSet(r.Context(), a.revokedKey[rec.ID])
		if err != nil {
			return a.storeFailed(w, r, err)
		}
		if revoked {
			a.reject(w, r, a.invalid, rec.ID, zap.String("reason", "revoked"))
			return caddyauth.User{}, false, nil
		}
	case authn.KeyExpired:
		a.reject(w, r, a.invalid, rec.ID, zap.String("reason", "expired"))
		return caddyauth.User{}, false, nil
	case authn.KeyAddressDenied:
		a.reject(w, r, a.invalid, rec.ID, zap.String("reason", "client_address"))
		return caddyauth.User{}, false, nil
	default:
		if a.DisableRuntimeKeys {
			a.reject(w, r, a.invalid, "")
			return caddyauth.User{}, false, nil
		}
		rrec, ok, err := a.keyStore.LookupRuntime(r.Context(), presented)
		if err != nil {
			return a.storeFailed(w, r, err)
		}
		if !ok {
			a.reject(w, r, a.invalid, "")
			return caddyauth.User{}, false, nil
		}
		if !rrec.AllowsAddr(clientAddr(r)) {
			a.reject(w, r, a.invalid, rrec.ID, zap.String("reason", "client_address"))
			return caddyauth.User{}, false, nil
		}
		id = rrec.Identity()
	}
	if !a.PassCredential {
		delete(r.Header, a.header)
	}
	if c := a.logger.Check(zapcore.DebugLevel, "api key accepted"); c != nil {
		c.Write(zap.String("user", id.ID), zap.Any("key_id", id.Claims["key_id"]))
	}
	return a.publisher.Publish(r, id), true, nil
}

func (a *APIKeyAuth) reject(w http.ResponseWriter, r *http.Request, p *problem.Problem, keyID string, fields ...zap.Field) {
	RequestID(w, r) // before Audit, so the id also reaches the response header
	RecordAuthFailure(r, p)
	if keyID != "" {
		fields = append(fields, zap.String("key_id", keyID))
	}
	Audit(r, "auth_failed", p.Code, append(fields, zap.String("provider", "apigw_api_key"))...)
}

// storeFailed fails closed: the request is answered 503 (the renderer
// shows the recorded problem in place of Caddy's 401) and the store error
// is logged, since an operator must act.
func (a *APIKeyAuth) storeFailed(w http.ResponseWriter, r *http.Request, err error) (caddyauth.User, bool, error) {
	logStoreError(a.logger, "key store unavailable; rejecting request", err)
	RequestID(w, r)
	RecordAuthFailure(r, a.unavailable)
	Audit(r, "auth_unavailable", problem.CodeServiceUnavailable, zap.String("provider", "apigw_api_key"))
	return caddyauth.User{}, false, nil
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
	for h.NextBlock(0) {
		if ok, err := parseIdentityHeaderOption(h.Dispenser, &a.IdentityHeaders); ok {
			if err != nil {
				return nil, err
			}
			continue
		}
		switch h.Val() {
		case "key":
			args := h.RemainingArgs()
			if len(args) != 2 {
				return nil, h.Errf("key needs <sha256-hex> <user> (hash the key: printf %%s \"$KEY\" | sha256sum)")
			}
			if _, err := authn.ParseKeyHash(args[0]); err != nil && !strings.Contains(args[0], "{") {
				return nil, h.Errf("key: %v", err)
			}
			k := APIKey{Hash: strings.ToLower(args[0]), User: args[1]}
			for nesting := h.Nesting(); h.NextBlock(nesting); {
				switch h.Val() {
				case "id":
					if !h.AllArgs(&k.ID) {
						return nil, h.ArgErr()
					}
				case "scopes":
					k.Scopes = append(k.Scopes, h.RemainingArgs()...)
				case "roles":
					k.Roles = append(k.Roles, h.RemainingArgs()...)
				case "metadata":
					var name, val string
					if !h.AllArgs(&name, &val) {
						return nil, h.Errf("metadata needs <name> <value>")
					}
					if k.Metadata == nil {
						k.Metadata = map[string]string{}
					}
					k.Metadata[name] = val
				case "allow_cidr":
					cidrs := h.RemainingArgs()
					if len(cidrs) == 0 {
						return nil, h.ArgErr()
					}
					for _, c := range cidrs {
						if _, err := parseCIDR(c); err != nil {
							return nil, h.Errf("%v", err)
						}
					}
					k.AllowCIDRs = append(k.AllowCIDRs, cidrs...)
				case "expires":
					if !h.AllArgs(&k.Expires) {
						return nil, h.ArgErr()
					}
					if _, err := time.Parse(time.RFC3339, k.Expires); err != nil {
						return nil, h.Errf("expires must be RFC 3339, e.g. 2026-12-31T23:59:59Z: %v", err)
					}
				default:
					return nil, h.Errf("unknown key option %q (known: id scopes roles metadata allow_cidr expires)", h.Val())
				}
			}
			a.Keys = append(a.Keys, k)
		case "header":
			if !h.AllArgs(&a.Header) {
				return nil, h.ArgErr()
			}
			if !validHeaderName(a.Header) {
				return nil, h.Errf("header %q is not a valid header name", a.Header)
			}
		case "query":
			return nil, h.Errf("API keys in query strings are not supported: URLs are logged; send the key in a header")
		case "pass_credential":
			if h.NextArg() {
				return nil, h.ArgErr()
			}
			a.PassCredential = true
		case "no_runtime_keys":
			if h.NextArg() {
				return nil, h.ArgErr()
			}
			a.DisableRuntimeKeys = true
		default:
			return nil, h.Errf("unknown apigw_api_key option %q (known: key header pass_credential no_runtime_keys user_header claim_header)", h.Val())
		}
	}
	if len(a.Keys) == 0 && a.DisableRuntimeKeys {
		return nil, h.Errf("apigw_api_key: no keys configured and no_runtime_keys set: nothing could authenticate")
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
