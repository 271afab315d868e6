package caddymodule

import (
	"crypto"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
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
	caddy.RegisterModule(JWTAuth{})
	registerGatewayHandlerDirective("apigw_jwt", parseJWTCaddyfile)
}

// DefaultJWTRealm is the realm of the Bearer challenge.
const DefaultJWTRealm = "caddy-apigw"

// JWTAuth authenticates requests by a JSON Web Token in the Authorization
// header (`Bearer <token>`). It is an authentication provider for Caddy's
// `authentication` handler, built on golang-jwt v5.
//
// Keys come from an HMAC secret, PEM public key files, or a JWKS URL
// (cached; an unknown kid triggers a refetch limited by a cooldown; keys
// stay cached while the JWKS host is down). Algorithms are pinned by an
// allow-list and by key type: a secret only verifies HS*, an RSA key only
// RS*/PS*, and so on; `none` is never accepted, and URLs or keys in the
// token header (jku, x5u, jwk) are never used. exp is required by default;
// exp, nbf and iat are checked with a leeway; iss and aud when configured;
// a revoked jti (admin API, /apigw/revocations) is refused.
//
// A token that verified is remembered for a short while (see
// VerifiedCacheTTL), keyed by its SHA-256; the revocation check still runs
// on every request.
type JWTAuth struct {
	// Secret is the HMAC secret for HS256/384/512, at least as long as
	// the hash output of every allowed HS algorithm (RFC 7518 §3.2: HS256
	// 32, HS384 48, HS512 64 bytes). Placeholders such as
	// {env.JWT_SECRET} are expanded at provision, so the secret never
	// appears in the adapted JSON (unlike {$JWT_SECRET}, which the
	// Caddyfile adapter expands).
	Secret string `json:"secret,omitempty"`
	// KeyFiles are PEM files holding RSA, ECDSA or Ed25519 public keys or
	// certificates. RSA keys need a modulus of at least 2048 bits and an
	// odd public exponent of at least 3 (65537 in practice), as JWKS keys
	// do. Placeholders are expanded at provision.
	KeyFiles []string `json:"key_files,omitempty"`
	// JWKSURL is a JSON Web Key Set URL; https only (see
	// JWKSAllowInsecureLoopback). Placeholders are expanded at provision.
	JWKSURL string `json:"jwks_url,omitempty"`
	// JWKSAllowInsecureLoopback permits a plain-http JWKS URL whose host is
	// a loopback address (local demos and tests).
	JWKSAllowInsecureLoopback bool `json:"jwks_allow_insecure_loopback,omitempty"`
	// JWKSRefreshCooldown is the least time between two refetches that
	// tokens with an unknown kid may trigger. Default: 30s.
	JWKSRefreshCooldown caddy.Duration `json:"jwks_refresh_cooldown,omitempty"`
	// JWKSRefreshInterval is how often the JWKS is refreshed in the
	// background. Default: 15m.
	JWKSRefreshInterval caddy.Duration `json:"jwks_refresh_interval,omitempty"`
	// Algorithms is the allow-list of JWS algorithms (HS256 HS384 HS512
	// RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA).
	// Default: HS256 for a secret, the key's own algorithm for a key file,
	// RS256 and ES256 for a JWKS.
	Algorithms []string `json:"algorithms,omitempty"`
	// Issuer, if set, must equal the token's iss claim. Placeholders are
	// expanded at provision.
	Issuer string `json:"issuer,omitempty"`
	// Audience, if set, must share a value with the token's aud claim.
	Audience []string `json:"audience,omitempty"`
	// Leeway is the clock skew tolerated on exp, nbf and iat. Default: 30s.
	Leeway *caddy.Duration `json:"leeway,omitempty"`
	// AllowMissingExp accepts tokens without an exp claim. Default: exp is
	// required.
	AllowMissingExp bool `json:"allow_missing_exp,omitempty"`
	// Header is the request header carrying the token. Default:
	// Authorization, with the "Bearer " scheme; for another header the
	// scheme is optional.
	Header string `json:"header,omitempty"`
	// UserClaim is the claim that becomes the user id. Default: sub.
	UserClaim string `json:"user_claim,omitempty"`
	// Realm is the realm of the WWW-Authenticate challenge. Default:
	// caddy-apigw.
	Realm string `json:"realm,omitempty"`
	// PassCredential keeps the token header on the request that goes
	// upstream. Default: it is removed.
	PassCredential bool `json:"pass_credential,omitempty"`
	// IdentityHeaders names the upstream headers carrying the identity:
	// the user (default X-Auth-User) and claims, e.g. {"email":
	// "X-Auth-Email", "scope": "X-Auth-Scope"}.
	IdentityHeaders IdentityHeaders `json:"identity_headers,omitzero"`
	// VerifiedCacheTTL is how long a token that verified is remembered, so
	// that presenting it again skips the signature check; never past the
	// token's exp, and exp/nbf/iat are re-checked on every use. A JWKS
	// refresh that drops or replaces a key forgets all tokens; a revoked
	// jti is refused on every request regardless. 0 disables the cache.
	// Default: 1m.
	VerifiedCacheTTL *caddy.Duration `json:"verified_cache_ttl,omitempty"`
	// VerifiedCacheSize bounds the number of remembered tokens (only the
	// SHA-256 of a token is kept, with its claims; tokens over 4 KiB are
	// not remembered). Default: 10000.
	VerifiedCacheSize int `json:"verified_cache_size,omitempty"`
	// DPoP enables DPoP-bound tokens (RFC 9449); see JWTDPoP. Default:
	// off. Tokens bound to a client certificate (cnf x5t#S256, RFC 8705)
	// are always checked against the TLS client certificate.
	DPoP *JWTDPoP `json:"dpop,omitempty"`

	header    string
	bearer    bool
	verifier  *authn.JWTVerifier
	auth      *authn.JWTAuthenticator
	jwks      *authn.JWKS
	logger    *zap.Logger
	dpop      *jwtDPoP // nil unless DPoP is allowed or required
	publisher *IdentityPublisher

	missing, unavailable *problem.Problem
	challenge            string
}

// CaddyModule returns the Caddy module information.
func (JWTAuth) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.authentication.providers.apigw_jwt",
		New: func() caddy.Module { return new(JWTAuth) },
	}
}

// Provision loads keys and builds the verifier.
func (j *JWTAuth) Provision(ctx caddy.Context) error {
	return provisionWithStore(ctx, "apigw_jwt", j.provision, &j.header)
}

func (j *JWTAuth) provision(logger *zap.Logger, st store.Store) error {
	j.logger = logger
	j.publisher = NewIdentityPublisher(j.IdentityHeaders)
	repl := caddy.NewReplacer()
	secret := repl.ReplaceKnown(j.Secret, "")
	jwksURL := repl.ReplaceKnown(j.JWKSURL, "")
	issuer := repl.ReplaceKnown(j.Issuer, "")

	j.header = "Authorization"
	if j.Header != "" {
		j.header = j.Header
	}
	if !validHeaderName(j.header) {
		return fmt.Errorf("apigw_jwt: header %q is not a valid header name", j.header)
	}
	j.header = canonicalHeader(j.header)
	j.bearer = j.header == "Authorization"
	if err := validateIdentityHeaders(j.IdentityHeaders); err != nil {
		return fmt.Errorf("apigw_jwt: %w", err)
	}

	if j.Secret != "" && secret == "" {
		return fmt.Errorf("apigw_jwt: secret %q expanded to nothing: set the environment variable", j.Secret)
	}
	set := j.settings(secret)
	if err := set.Check(); err != nil {
		return fmt.Errorf("apigw_jwt: %w", err)
	}
	cfg := authn.JWTConfig{
		Algorithms:      j.Algorithms,
		Issuer:          issuer,
		Audience:        j.Audience,
		Leeway:          set.Leeway,
		AllowMissingExp: j.AllowMissingExp,
		UserClaim:       j.UserClaim,
		CacheTTL:        set.VerifiedCacheTTL,
		CacheSize:       j.VerifiedCacheSize,
	}
	if secret != "" {
		cfg.Secret = []byte(secret)
	}
	for _, f := range j.KeyFiles {
		path := repl.ReplaceKnown(f, "")
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("apigw_jwt: key_file: %w", err)
		}
		k, err := authn.ParsePublicKeyPEM(data)
		if err != nil {
			return fmt.Errorf("apigw_jwt: key_file %s: %w", path, err)
		}
		cfg.PublicKeys = append(cfg.PublicKeys, crypto.PublicKey(k))
	}
	if j.JWKSURL != "" {
		if jwksURL == "" {
			return fmt.Errorf("apigw_jwt: jwks_url %q expanded to nothing: set the environment variable", j.JWKSURL)
		}
		if err := authn.CheckJWKSURL(jwksURL, j.JWKSAllowInsecureLoopback); err != nil {
			return fmt.Errorf("apigw_jwt: %w", err)
		}
	}
	// build the verifier before starting the JWKS refresher, so a config
	// error leaves no goroutine behind
	probe := cfg
	if j.JWKSURL != "" {
		probe.JWKS = new(authn.JWKS)
	}
	if _, err := authn.NewJWTVerifier(probe); err != nil {
		return fmt.Errorf("apigw_jwt: %w", err)
	}
	if j.JWKSURL != "" {
		jwks, err := authn.NewJWKS(jwksURL, authn.JWKSOptions{
			Cooldown:              time.Duration(j.JWKSRefreshCooldown),
			RefreshInterval:       time.Duration(j.JWKSRefreshInterval),
			AllowInsecureLoopback: j.JWKSAllowInsecureLoopback,
			Events:                jwksEvents(j.logger),
		})
		if err != nil {
			return fmt.Errorf("apigw_jwt: %w", err)
		}
		j.jwks = jwks
		cfg.JWKS = jwks
	}
	v, err := authn.NewJWTVerifier(cfg)
	if err != nil {
		return fmt.Errorf("apigw_jwt: %w", err)
	}
	j.verifier = v
	j.auth = authn.NewJWTAuthenticator(v, authn.NewRevocations(st), j.UserClaim)

	realm := j.Realm
	if realm == "" {
		realm = DefaultJWTRealm
	}
	j.challenge = `Bearer realm=` + strconv.Quote(realm)
	j.missing = problem.New(http.StatusUnauthorized, problem.CodeMissingCredentials,
		"a bearer token is required").WithHeader("WWW-Authenticate", j.challenge)
	j.unavailable = credentialsUnavailable()
	if err := j.provisionDPoP(st); err != nil {
		return fmt.Errorf("apigw_jwt: %w", err)
	}
	return nil
}

// settings returns j's settings for authn.JWTSettings.Check, with secret
// (j.Secret, expanded at provision) and the defaults of leeway and
// verified_cache_ttl filled in.
func (j *JWTAuth) settings(secret string) authn.JWTSettings {
	s := authn.JWTSettings{
		Secret:              secret,
		KeyFiles:            j.KeyFiles,
		JWKSURL:             j.JWKSURL,
		Algorithms:          j.Algorithms,
		Leeway:              authn.DefaultLeeway,
		VerifiedCacheTTL:    authn.DefaultVerifiedCacheTTL,
		VerifiedCacheSize:   j.VerifiedCacheSize,
		JWKSRefreshCooldown: time.Duration(j.JWKSRefreshCooldown),
		JWKSRefreshInterval: time.Duration(j.JWKSRefreshInterval),
	}
	if j.Leeway != nil {
		s.Leeway = time.Duration(*j.Leeway)
	}
	if j.VerifiedCacheTTL != nil {
		s.VerifiedCacheTTL = time.Duration(*j.VerifiedCacheTTL)
	}
	return s
}

// Cleanup stops the JWKS refresher.
func (j *JWTAuth) Cleanup() error {
	if j.jwks != nil {
		j.jwks.Stop()
	}
	return nil
}

// tokenFrom extracts the token from the request; ok is false when the
// header is absent or has no token.
func (j *JWTAuth) tokenFrom(r *http.Request) (string, bool) {
	vals := r.Header[j.header]
	if len(vals) != 1 {
		return "", false
	}
	v := strings.TrimSpace(vals[0])
	if len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
		return strings.TrimSpace(v[7:]), true
	}
	if j.bearer {
		return "", false
	}
	return v, v != ""
}

// Authenticate implements caddyauth.Authenticator.
func (j *JWTAuth) Authenticate(w http.ResponseWriter, r *http.Request) (caddyauth.User, bool, error) {
	token, ok := j.tokenFrom(r)
	dpopScheme := false
	if !ok {
		token, ok = j.dpopTokenFrom(r)
		dpopScheme = ok
	}
	if !ok {
		if len(r.Header[j.header]) == 0 {
			j.reject(w, r, j.missing, "")
		} else {
			j.reject(w, r, j.invalid(failure.New(failure.ErrInvalidToken, "the "+j.header+" header must be \"Bearer <token>\"")), "")
		}
		return caddyauth.User{}, false, nil
	}
	// the identity is built once per verified token (the token cache);
	// the binding check (cnf, DPoP proof) needs the request
	var refusal *problem.Problem
	id, err := j.auth.Authenticate(r.Context(), token, dpopScheme, func(claims map[string]any) error {
		p, err := j.checkBinding(w, r, token, dpopScheme, claims)
		if p != nil {
			refusal = p
			return errRefused
		}
		return err
	})
	switch {
	case refusal != nil:
		j.reject(w, r, refusal, "")
		return caddyauth.User{}, false, nil
	case errors.Is(err, failure.ErrUnavailable):
		authUnavailable(w, r, j.logger, "apigw_jwt", "credential store unavailable; rejecting request", err, j.unavailable)
		return caddyauth.User{}, false, nil
	case err != nil:
		var rt *authn.RevokedToken
		jti := ""
		if errors.As(err, &rt) {
			jti = rt.JTI
		}
		j.reject(w, r, j.invalid(err), jti)
		return caddyauth.User{}, false, nil
	}
	if !j.PassCredential {
		delete(r.Header, j.header)
		delete(r.Header, dpopHeader) // a proof is a credential too
	}
	if c := j.logger.Check(zapcore.DebugLevel, "jwt accepted"); c != nil {
		c.Write(zap.String("user", id.ID))
	}
	return j.publisher.Publish(r, id), true, nil
}

// invalid returns the problem for a token refused with err, with the RFC
// 6750 challenge. token_expired and token_revoked are
// error="invalid_token" in RFC 6750 terms; the problem's code tells them
// apart.
func (j *JWTAuth) invalid(err error) *problem.Problem {
	p := problemFromError(err)
	if p.Status == http.StatusInternalServerError {
		// a refusal the verifier did not classify (an error without a
		// failure kind) is still a token refused, never a 500
		p = problemFromError(failure.New(failure.ErrInvalidToken, "token is invalid"))
	}
	return p.WithHeader("WWW-Authenticate",
		j.challenge+`, error="invalid_token", error_description=`+strconv.Quote(p.Detail))
}

// reject records the refusal p (and the revoked token's jti, if any).
func (j *JWTAuth) reject(w http.ResponseWriter, r *http.Request, p *problem.Problem, jti string) {
	if jti != "" {
		authFailed(w, r, "apigw_jwt", p, zap.String("reason", p.Detail), zap.String("jti", jti))
		return
	}
	authFailed(w, r, "apigw_jwt", p, zap.String("reason", p.Detail))
}

// errRefused is returned to authn.JWTAuthenticator by a binding check
// that recorded its own refusal.
var errRefused = errors.New("refused")

// parseJWTCaddyfile sets up the apigw_jwt directive. Syntax:
//
//	apigw_jwt [<matcher>] {
//	    secret <value>                  # HS256 >= 32, HS384 >= 48, HS512 >= 64 bytes; use {env.JWT_SECRET}
//	    key_file <pem>                  # RSA/EC/Ed25519 public key or cert; repeatable
//	    jwks_url <https-url>
//	    jwks_allow_insecure_loopback
//	    jwks_refresh_cooldown <duration>    # default 30s
//	    jwks_refresh_interval <duration>    # default 15m
//	    algorithms <alg...>
//	    issuer <iss>
//	    audience <aud...>
//	    leeway <duration>               # default 30s
//	    allow_missing_exp
//	    header <name>                   # default Authorization (Bearer)
//	    user_claim <claim>              # default sub
//	    realm <realm>
//	    pass_credential
//	    user_header <header>|-
//	    claim_header <claim> <header>
//	    verified_cache_ttl <duration>   # default 1m; 0 disables
//	    verified_cache_size <n>         # default 10000
//	    dpop required|allowed|off       # default off (see parseDPoPOption)
//	    dpop_algorithms <alg...>        # default ES256 RS256 EdDSA
//	    dpop_max_age <duration>         # default 60s
//	    dpop_leeway <duration>          # default 60s
//	    use_dpop_nonce
//	    dpop_nonce_lifetime <duration>  # default 5m
//	}
func parseJWTCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	h.Next() // consume directive name
	if h.NextArg() {
		return nil, h.Errf("apigw_jwt takes no arguments, only a block")
	}
	j := new(JWTAuth)
	one := func(dst *string) error {
		if !h.AllArgs(dst) {
			return h.ArgErr()
		}
		return nil
	}
	flag := func(dst *bool) error {
		if h.NextArg() {
			return h.ArgErr()
		}
		*dst = true
		return nil
	}
	dur := func(name string) (caddy.Duration, error) {
		var s string
		if !h.AllArgs(&s) {
			return 0, h.ArgErr()
		}
		d, err := caddy.ParseDuration(s)
		if err != nil {
			return 0, h.Errf("%s: %v", name, err)
		}
		return caddy.Duration(d), nil
	}
	err := parseAuthBlock(h.Dispenser, &j.IdentityHeaders, func(name string) error {
		if ok, err := parseDPoPOption(h.Dispenser, &j.DPoP); ok {
			return err
		}
		var err error
		switch name {
		case "secret":
			err = one(&j.Secret)
		case "key_file":
			var f string
			err = one(&f)
			j.KeyFiles = append(j.KeyFiles, f)
		case "jwks_url":
			err = one(&j.JWKSURL)
		case "jwks_allow_insecure_loopback":
			err = flag(&j.JWKSAllowInsecureLoopback)
		case "jwks_refresh_cooldown":
			j.JWKSRefreshCooldown, err = dur("jwks_refresh_cooldown")
		case "jwks_refresh_interval":
			j.JWKSRefreshInterval, err = dur("jwks_refresh_interval")
		case "algorithms":
			algs := h.RemainingArgs()
			if len(algs) == 0 {
				return h.ArgErr()
			}
			j.Algorithms = append(j.Algorithms, algs...)
		case "issuer":
			err = one(&j.Issuer)
		case "audience":
			aud := h.RemainingArgs()
			if len(aud) == 0 {
				return h.ArgErr()
			}
			j.Audience = append(j.Audience, aud...)
		case "leeway":
			var d caddy.Duration
			d, err = dur("leeway")
			j.Leeway = &d
		case "allow_missing_exp":
			err = flag(&j.AllowMissingExp)
		case "header":
			err = one(&j.Header)
			if err == nil && !validHeaderName(j.Header) {
				err = h.Errf("header %q is not a valid header name", j.Header)
			}
		case "user_claim":
			err = one(&j.UserClaim)
		case "realm":
			err = one(&j.Realm)
		case "pass_credential":
			err = flag(&j.PassCredential)
		case "verified_cache_ttl":
			var d caddy.Duration
			d, err = dur("verified_cache_ttl")
			j.VerifiedCacheTTL = &d
		case "verified_cache_size":
			var s string
			if !h.AllArgs(&s) {
				return h.ArgErr()
			}
			n, convErr := strconv.Atoi(s)
			if convErr != nil || n < 1 {
				return h.Errf("verified_cache_size %q must be a positive number of tokens (to disable the cache, use verified_cache_ttl 0)", s)
			}
			j.VerifiedCacheSize = n
		default:
			return h.Errf("unknown apigw_jwt option %q (known: secret key_file jwks_url jwks_allow_insecure_loopback jwks_refresh_cooldown jwks_refresh_interval algorithms issuer audience leeway allow_missing_exp header user_claim realm pass_credential user_header claim_header verified_cache_ttl verified_cache_size dpop dpop_algorithms dpop_max_age dpop_leeway use_dpop_nonce dpop_nonce_lifetime)", name)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	// the check Provision makes (a secret given as a placeholder is
	// measured once expanded, at Provision)
	if err := j.settings(j.Secret).Check(); err != nil {
		return nil, h.Errf("apigw_jwt: %v", err)
	}
	if err := checkDPoPCaddyfile(h.Dispenser, j.DPoP); err != nil {
		return nil, err
	}
	return caddyauth.Authentication{
		ProvidersRaw: caddy.ModuleMap{"apigw_jwt": caddyconfig.JSON(j, nil)},
	}, nil
}

// Interface guards
var (
	_ caddy.Provisioner       = (*JWTAuth)(nil)
	_ caddy.CleanerUpper      = (*JWTAuth)(nil)
	_ caddyauth.Authenticator = (*JWTAuth)(nil)
)
