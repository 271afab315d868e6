package authn

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/apigw/caddy-apigw/failure"
)

// JWT limits and defaults.
const (
	// MinSecretLen is the shortest HMAC secret accepted (RFC 7518 §3.2:
	// a key at least as long as the hash output).
	MinSecretLen = 32
	// MinRSABits is the smallest RSA modulus accepted.
	MinRSABits = 2048
	// MaxTokenLen bounds the size of a token that is parsed at all.
	MaxTokenLen = 16 << 10
	// DefaultLeeway is the clock skew tolerated on exp, nbf and iat.
	DefaultLeeway = 30 * time.Second
)

// SupportedAlgorithms lists the JWS algorithms a verifier may allow.
var SupportedAlgorithms = []string{
	"HS256", "HS384", "HS512",
	"RS256", "RS384", "RS512",
	"PS256", "PS384", "PS512",
	"ES256", "ES384", "ES512",
	"EdDSA",
}

// JWTConfig configures a JWTVerifier.
type JWTConfig struct {
	// Secret is the HMAC key for HS* tokens (at least MinSecretLen bytes).
	Secret []byte
	// PublicKeys are static verification keys (RSA, ECDSA, Ed25519).
	PublicKeys []crypto.PublicKey
	// JWKS is a remote key set.
	JWKS *JWKS
	// Algorithms is the allow-list; empty means derived from the keys
	// (HS256 for a secret, RS256 / ES<size> / EdDSA for a public key,
	// RS256 and ES256 for a JWKS).
	Algorithms []string
	// Issuer, if set, must equal the iss claim.
	Issuer string
	// Audience, if set, must contain one of the token's aud values.
	Audience []string
	// Leeway is the tolerated clock skew.
	Leeway time.Duration
	// AllowMissingExp accepts tokens without exp (not recommended).
	AllowMissingExp bool
	// UserClaim names the claim that becomes Identity.ID (default "sub").
	UserClaim string
	// Now returns the current time (tests); default time.Now.
	Now func() time.Time
	// CacheTTL is how long a verified token is remembered (never past its
	// exp), so that presenting it again skips the signature check. Zero
	// disables the cache (the JWT provider defaults to
	// DefaultVerifiedCacheTTL). Static keys cannot change during a
	// verifier's life (a config reload builds a new verifier with an empty
	// cache); a JWKS refresh that drops or replaces a key empties it.
	CacheTTL time.Duration
	// CacheSize bounds the number of remembered tokens; zero means
	// DefaultVerifiedCacheSize.
	CacheSize int
}

// JWTVerifier verifies compact JWS tokens against pinned algorithms and
// keys. It never reads the token header's jku, x5u, x5c or jwk members: a
// token cannot choose its own key.
type JWTVerifier struct {
	cfg    JWTConfig
	algs   []string
	parser *jwt.Parser
	cache  *tokenCache // nil when disabled
}

var (
	errNoKey         = errors.New("no key can verify this token")
	errAlgNotAllowed = errors.New("algorithm not allowed")
	errCrit          = errors.New("unsupported critical header")
)

// algFamily returns "HS", "RS" (RS and PS), "ES256"/"ES384"/"ES512" or
// "EdDSA".
func algFamily(alg string) string {
	switch {
	case strings.HasPrefix(alg, "HS"):
		return "HS"
	case strings.HasPrefix(alg, "RS"), strings.HasPrefix(alg, "PS"):
		return "RS"
	default:
		return alg
	}
}

// KeyFitsAlg reports whether key may verify tokens signed with alg: HS*
// only with a []byte secret, RS*/PS* only with RSA keys, ES256/384/512 only
// with ECDSA keys on P-256/P-384/P-521, EdDSA only with Ed25519 keys.
func KeyFitsAlg(key any, alg string) bool {
	switch k := key.(type) {
	case []byte:
		return algFamily(alg) == "HS"
	case *rsa.PublicKey:
		return algFamily(alg) == "RS"
	case *ecdsa.PublicKey:
		switch alg {
		case "ES256":
			return k.Curve == elliptic.P256()
		case "ES384":
			return k.Curve == elliptic.P384()
		case "ES512":
			return k.Curve == elliptic.P521()
		}
		return false
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}

// defaultAlg is the one algorithm a static key allows by default.
func defaultAlg(key crypto.PublicKey) string {
	switch k := key.(type) {
	case *rsa.PublicKey:
		return "RS256"
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P384():
			return "ES384"
		case elliptic.P521():
			return "ES512"
		}
		return "ES256"
	case ed25519.PublicKey:
		return "EdDSA"
	}
	return ""
}

// NewJWTVerifier checks cfg and returns a verifier. It fails when no key
// source is set, the secret is short, an algorithm is unknown or "none",
// or an allowed algorithm has no key that could verify it.
func NewJWTVerifier(cfg JWTConfig) (*JWTVerifier, error) {
	if len(cfg.Secret) == 0 && len(cfg.PublicKeys) == 0 && cfg.JWKS == nil {
		return nil, errNoVerificationKey
	}
	if len(cfg.Secret) > 0 && len(cfg.Secret) < MinSecretLen {
		return nil, checkSecret(len(cfg.Secret), nil)
	}
	for _, k := range cfg.PublicKeys {
		if err := CheckPublicKey(k); err != nil {
			return nil, err
		}
		if defaultAlg(k) == "" {
			return nil, fmt.Errorf("unsupported public key type %T", k)
		}
	}
	algs := slices.Clone(cfg.Algorithms)
	if len(algs) == 0 {
		if len(cfg.Secret) > 0 {
			algs = append(algs, "HS256")
		}
		for _, k := range cfg.PublicKeys {
			if a := defaultAlg(k); !slices.Contains(algs, a) {
				algs = append(algs, a)
			}
		}
		if cfg.JWKS != nil {
			for _, a := range []string{"RS256", "ES256"} {
				if !slices.Contains(algs, a) {
					algs = append(algs, a)
				}
			}
		}
	}
	if err := checkAlgorithmNames(algs); err != nil {
		return nil, err
	}
	for _, a := range algs {
		if algFamily(a) == "HS" {
			if len(cfg.Secret) == 0 {
				return nil, fmt.Errorf("algorithm %s needs a secret", a)
			}
			continue
		}
		fits := cfg.JWKS != nil
		for _, k := range cfg.PublicKeys {
			fits = fits || KeyFitsAlg(k, a)
		}
		if !fits {
			return nil, fmt.Errorf("algorithm %s has no key: add a key_file of that type or a jwks_url", a)
		}
	}
	if len(cfg.Secret) > 0 && !slices.ContainsFunc(algs, func(a string) bool { return algFamily(a) == "HS" }) {
		return nil, errors.New("a secret is set but no HS algorithm is allowed")
	}
	if len(cfg.Secret) > 0 {
		if err := checkSecret(len(cfg.Secret), algs); err != nil {
			return nil, err
		}
	}
	if cfg.CacheTTL < 0 {
		return nil, errors.New("verified token cache TTL must not be negative (0 disables the cache)")
	}
	if cfg.CacheSize < 0 {
		return nil, errors.New("verified token cache size must not be negative")
	}
	if cfg.CacheSize == 0 {
		cfg.CacheSize = DefaultVerifiedCacheSize
	}
	if cfg.UserClaim == "" {
		cfg.UserClaim = "sub"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(algs),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(cfg.Now),
	}
	if !cfg.AllowMissingExp {
		opts = append(opts, jwt.WithExpirationRequired())
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if len(cfg.Audience) > 0 {
		opts = append(opts, jwt.WithAudience(cfg.Audience...))
	}
	return &JWTVerifier{cfg: cfg, algs: algs, parser: jwt.NewParser(opts...),
		cache: newTokenCache(cfg.CacheTTL, cfg.CacheSize)}, nil
}

// Algorithms returns the allowed algorithms.
func (v *JWTVerifier) Algorithms() []string { return slices.Clone(v.algs) }

// Verify parses and verifies token and returns its claims. A rejected
// token yields a failure.ErrInvalidToken or failure.ErrTokenExpired.
//
// With a cache (JWTConfig.CacheTTL), a token that verified before is
// answered from memory while it is within its exp, nbf and iat (with the
// leeway) and the key set has not dropped a key since. The returned claims
// are then shared by every caller presenting the same token: callers must
// treat them (and any map or slice inside them) as read-only. Verify does
// not check revocation: callers check jti on every request.
func (v *JWTVerifier) Verify(token string) (jwt.MapClaims, error) {
	if len(token) > MaxTokenLen {
		return nil, failure.New(failure.ErrInvalidToken, "token is too large")
	}
	var sum [sha256.Size]byte
	var gen uint64
	cache := v.cache
	if len(token) > MaxCachedTokenLen {
		cache = nil
	}
	if cache != nil {
		sum = SHA256String(token)
		gen = v.generation() // before the keys are read (see JWKS.Generation)
		if claims, ok := cache.get(&sum, gen, v.cfg.Now(), v.cfg.Leeway); ok {
			return claims, nil
		}
	}
	claims := jwt.MapClaims{}
	tok, err := v.parser.ParseWithClaims(token, claims, v.keyfunc)
	if err != nil {
		return nil, v.classify(tok, err)
	}
	if err := CheckRegisteredClaims(claims); err != nil {
		return nil, err
	}
	if cache != nil {
		cache.put(&sum, gen, claims, v.cfg.Now())
	}
	return claims, nil
}

// generation identifies the current key set: static keys never change, a
// JWKS counts the refreshes that dropped or replaced a key.
func (v *JWTVerifier) generation() uint64 {
	if v.cfg.JWKS == nil {
		return 0
	}
	return v.cfg.JWKS.Generation()
}

func (v *JWTVerifier) keyfunc(t *jwt.Token) (any, error) {
	alg := t.Method.Alg()
	if hAlg, _ := t.Header["alg"].(string); hAlg != alg || !slices.Contains(v.algs, alg) {
		return nil, errAlgNotAllowed
	}
	if _, ok := t.Header["crit"]; ok {
		// RFC 7515 §4.1.11: we understand no extensions, so a token that
		// marks any as critical must be rejected
		return nil, errCrit
	}
	if algFamily(alg) == "HS" {
		if len(v.cfg.Secret) == 0 {
			return nil, errNoKey
		}
		return v.cfg.Secret, nil
	}
	var keys []jwt.VerificationKey
	if v.cfg.JWKS != nil {
		kid, _ := t.Header["kid"].(string)
		for _, k := range v.cfg.JWKS.Keys(kid) {
			if (k.Alg == "" || k.Alg == alg) && KeyFitsAlg(k.Key, alg) {
				keys = append(keys, k.Key)
			}
		}
	}
	for _, k := range v.cfg.PublicKeys {
		if KeyFitsAlg(k, alg) {
			keys = append(keys, k)
		}
	}
	switch len(keys) {
	case 0:
		return nil, errNoKey
	case 1:
		return keys[0], nil
	}
	return jwt.VerificationKeySet{Keys: keys}, nil
}

// classify turns a golang-jwt error into the failure a client is shown.
func (v *JWTVerifier) classify(tok *jwt.Token, err error) error {
	te := failure.Wrap(failure.ErrInvalidToken, "", err)
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		te.Detail = "token is malformed"
	case errors.Is(err, errAlgNotAllowed),
		errors.Is(err, jwt.ErrTokenSignatureInvalid) && tok != nil && tok.Method != nil && !slices.Contains(v.algs, tok.Method.Alg()):
		te.Detail = "token algorithm is not allowed"
	case errors.Is(err, jwt.ErrTokenUnverifiable) && tok != nil && tok.Method == nil:
		te.Detail = "token algorithm is not allowed"
	case errors.Is(err, errCrit):
		te.Detail = "token has unsupported critical header parameters"
	case errors.Is(err, errNoKey):
		te.Detail = "token signing key is unknown"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		te.Detail = "token signature is invalid"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		te.Detail = "token issuer is not accepted"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		te.Detail = "token audience is not accepted"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		te.Detail = "token is missing a required claim"
		if tok != nil {
			if c, ok := tok.Claims.(jwt.MapClaims); ok {
				for _, name := range []string{"exp", "iss", "aud"} {
					if _, has := c[name]; !has {
						te.Detail = "token has no " + name + " claim"
						break
					}
				}
			}
		}
	case errors.Is(err, jwt.ErrInvalidType):
		te.Detail = "token has a claim of the wrong type"
	case errors.Is(err, jwt.ErrTokenExpired):
		te.Kind = failure.ErrTokenExpired
		te.Detail = "token has expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		te.Detail = "token is not valid yet"
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		te.Detail = "token was issued in the future"
	default:
		te.Detail = "token is invalid"
	}
	return te
}

// IdentityFromClaims maps verified claims to an identity: userClaim (a
// non-empty string) becomes ID; "scope" (space-separated or array) or
// else "scp" becomes Scopes; "roles" becomes Roles (all read by
// ParseScopes: a malformed one makes the token invalid); the remaining claims
// become Claims. Claims is a new map, but values inside it (arrays,
// objects) are shared with claims, which Verify may share between
// requests: treat them as read-only.
func IdentityFromClaims(claims map[string]any, userClaim string) (*Identity, error) {
	if userClaim == "" {
		userClaim = "sub"
	}
	raw, has := claims[userClaim]
	user, isStr := raw.(string)
	if has && !isStr {
		return nil, failure.New(failure.ErrInvalidToken, "token claim "+userClaim+" must be a string")
	}
	if user == "" {
		return nil, failure.New(failure.ErrInvalidToken, "token has no "+userClaim+" claim")
	}
	if !ValidHeaderValue(user) {
		// the id travels upstream in X-Auth-User: a CR/LF or NUL in it
		// would make the proxy fail (502) or be a header injection
		return nil, failure.New(failure.ErrInvalidToken, "token has a "+userClaim+" claim with control characters")
	}
	id := &Identity{ID: user, Method: "jwt", Claims: make(map[string]any, len(claims))}
	var err error
	if s, ok := claims["scope"]; ok {
		id.Scopes, err = ParseScopes("scope", s)
	} else if s, ok := claims["scp"]; ok {
		id.Scopes, err = ParseScopes("scp", s)
	}
	if err != nil {
		return nil, err
	}
	if r, ok := claims["roles"]; ok {
		if id.Roles, err = ParseScopes("roles", r); err != nil {
			return nil, err
		}
	}
	for k, val := range claims {
		switch k {
		case "scope", "scp", "roles":
		default:
			id.Claims[k] = val
		}
	}
	return id, nil
}

// ValidHeaderValue reports whether s can be sent as an HTTP header value
// as it is: no control characters other than horizontal tab (RFC 9110
// field-value), so no CR, LF or NUL.
func ValidHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// ParsePublicKeyPEM reads a PEM public key ("PUBLIC KEY" PKIX, "RSA
// PUBLIC KEY" PKCS#1) or certificate; it returns its public key. A key
// that CheckPublicKey refuses (a short RSA modulus, a tiny or even RSA
// exponent) is an error, as it is in a JWKS.
func ParsePublicKeyPEM(data []byte) (crypto.PublicKey, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, errors.New("no PEM public key or certificate found")
		}
		switch block.Type {
		case "PUBLIC KEY":
			k, err := x509.ParsePKIXPublicKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parsing public key: %w", err)
			}
			return k, CheckPublicKey(k)
		case "RSA PUBLIC KEY":
			k, err := x509.ParsePKCS1PublicKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parsing RSA public key: %w", err)
			}
			return k, CheckPublicKey(k)
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parsing certificate: %w", err)
			}
			return c.PublicKey, CheckPublicKey(c.PublicKey)
		case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY":
			return nil, errors.New("key_file holds a private key: give the public key (openssl pkey -pubout)")
		}
	}
}
