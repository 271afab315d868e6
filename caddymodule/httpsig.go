package caddymodule

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"
	"github.com/dunglas/httpsfv"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/apigw/caddy-apigw/authn"
	"github.com/apigw/caddy-apigw/httpsig"
	"github.com/apigw/caddy-apigw/problem"
	"github.com/apigw/caddy-apigw/store"
)

func init() {
	caddy.RegisterModule(HTTPSignatureAuth{})
}

// HTTPSignatureMethod is the identity method of a request authenticated
// by an HTTP Message Signature.
const HTTPSignatureMethod = "http_signature"

// Defaults of HTTPSignatureAuth.
const (
	DefaultHTTPSignatureMaxBody = 1 << 20
)

// HTTPSignatureAuth authenticates requests signed with HTTP Message
// Signatures (RFC 9421). It is an authentication provider for Caddy's
// `authentication` handler.
//
// The client signs the request with its private key and sends
// Signature-Input and Signature; the key id (keyid) names a key
// configured here (a PEM or JWK public key, an HMAC secret, or a key of a
// JWKS file or URL), and becomes the identity, with the key's scopes,
// roles and metadata. Each key has one algorithm (ed25519,
// ecdsa-p256-sha256, rsa-pss-sha512 or hmac-sha256); a signature whose
// alg parameter names another is refused. The signature must cover the
// required components (by default @method, @authority and @path; @query
// when the request has a query; content-digest when it has a body),
// Content-Digest (RFC 9530, sha-256 or sha-512) must match the body,
// created must be within ±tolerance, expires must not have passed, and a
// nonce (per key id), or without one the signed message itself (unless
// allow_repeat_without_nonce), is accepted once on every instance sharing
// the apigw store.
//
// The body, when it must be digested, is read once (up to max_body; more
// is 413) and passed on byte for byte. Signature and Signature-Input are
// removed before the request goes upstream.
type HTTPSignatureAuth struct {
	// Keys are the clients' keys, by key id.
	Keys []HTTPSignatureKey `json:"keys,omitempty"`
	// JWKSFile is a JSON Web Key Set file of public keys (EdDSA/Ed25519,
	// ES256, PS512); each key's kid is its key id. Read at provision.
	JWKSFile string `json:"jwks_file,omitempty"`
	// JWKSURL is a JSON Web Key Set URL (https only, see
	// JWKSAllowInsecureLoopback); refreshed in the background, and at once
	// (at most once per 30s) when an unknown key id arrives.
	JWKSURL string `json:"jwks_url,omitempty"`
	// JWKSAllowInsecureLoopback permits a plain-http JWKS URL whose host is
	// a loopback address. Default: false.
	JWKSAllowInsecureLoopback bool `json:"jwks_allow_insecure_loopback,omitempty"`
	// Label is the signature label to verify, e.g. "sig1"; signatures
	// under other labels are ignored. Default: empty, which accepts any
	// label but only when the request carries exactly one signature.
	Label string `json:"label,omitempty"`
	// RequiredComponents must be covered by every signature. Default:
	// ["@method", "@authority", "@path"]; [] requires none.
	RequiredComponents []string `json:"required_components,omitzero"`
	// RequiredWithQuery must be covered when the request has a query.
	// Default: ["@query"]; [] requires none.
	RequiredWithQuery []string `json:"required_with_query,omitzero"`
	// RequiredWithBody must be covered when the request has a body.
	// Default: ["content-digest"]; [] requires none.
	RequiredWithBody []string `json:"required_with_body,omitzero"`
	// Tolerance is the accepted difference between created and the
	// gateway's clock, both ways. Default: 300s.
	Tolerance caddy.Duration `json:"tolerance,omitempty"`
	// RequireNonce refuses signatures without a nonce. Default: false
	// (without a nonce, each signed message is accepted once).
	RequireNonce bool `json:"require_nonce,omitempty"`
	// AllowRepeatWithoutNonce lets a signed request without a nonce be
	// sent again until created ± tolerance (or expires) has passed; nonces
	// stay single use. Default: false (each signed request without a
	// nonce is accepted once).
	AllowRepeatWithoutNonce bool `json:"allow_repeat_without_nonce,omitempty"`
	// MaxBody caps the body read for Content-Digest, in bytes; a larger
	// body is 413. Default: 1 MiB.
	MaxBody int64 `json:"max_body,omitempty"`
	// MaxHeaderSize caps each of Signature-Input and Signature, in bytes.
	// Default: 8 KiB.
	MaxHeaderSize int `json:"max_header_size,omitempty"`
	// PassHeaders keeps Signature and Signature-Input on the request sent
	// upstream. Default: false (removed).
	PassHeaders bool `json:"pass_headers,omitempty"`
	// IdentityHeaders names the upstream headers that carry the identity
	// (default X-Auth-User; metadata via claims, e.g. {"key_id":
	// "X-Auth-Key-Id"}).
	IdentityHeaders IdentityHeaders `json:"identity_headers,omitzero"`

	verifier   *httpsig.Verifier
	keys       *sigKeys
	identities map[string]*authn.Identity
	jwks       *authn.JWKS
	logger     *zap.Logger

	challenge string
	accept    [4]string // Accept-Signature by [hasQuery + 2*hasBody]
}

// HTTPSignatureKey is one client key.
type HTTPSignatureKey struct {
	// ID is the key id the client sends as keyid.
	ID string `json:"id"`
	// Algorithm is ed25519, ecdsa-p256-sha256, rsa-pss-sha512 or
	// hmac-sha256. Default: the one the key type implies (hmac-sha256 for
	// a secret). For a key from a JWKS, it pins that key's algorithm.
	Algorithm string `json:"algorithm,omitempty"`
	// PublicKeyFile is a PEM file holding the public key (SPKI "PUBLIC
	// KEY", or "RSA PUBLIC KEY").
	PublicKeyFile string `json:"public_key_file,omitempty"`
	// PublicKey is the public key inline: PEM text, or the base64 of the
	// DER SPKI (the body of a PEM "PUBLIC KEY" block).
	PublicKey string `json:"public_key,omitempty"`
	// JWK is the public key as a JSON Web Key.
	JWK string `json:"jwk,omitempty"`
	// Secret is an hmac-sha256 shared secret of at least 32 bytes;
	// placeholders ({env.X}, {file./run/secrets/x}) are expanded.
	Secret string `json:"secret,omitempty"`
	// User is the identity the key authenticates as. Default: the key id.
	User string `json:"user,omitempty"`
	// Scopes granted to the key.
	Scopes []string `json:"scopes,omitempty"`
	// Roles granted to the key.
	Roles []string `json:"roles,omitempty"`
	// Metadata is published with the identity ({http.auth.user.<name>}).
	Metadata map[string]string `json:"metadata,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (HTTPSignatureAuth) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.authentication.providers.apigw_http_signature",
		New: func() caddy.Module { return new(HTTPSignatureAuth) },
	}
}

// Provision loads the keys and connects the replay check to the store.
func (a *HTTPSignatureAuth) Provision(ctx caddy.Context) error {
	st, err := StoreFrom(ctx)
	if err != nil {
		return fmt.Errorf("apigw_http_signature: %w", err)
	}
	if err := a.provision(ctx.Logger(), st, time.Now); err != nil {
		return fmt.Errorf("apigw_http_signature: %w", err)
	}
	return nil
}

func (a *HTTPSignatureAuth) provision(logger *zap.Logger, st store.Store, now func() time.Time) error {
	a.logger = logger
	if err := validateIdentityHeaders(a.IdentityHeaders); err != nil {
		return err
	}
	if a.Tolerance < 0 || a.MaxBody < 0 || a.MaxHeaderSize < 0 {
		return errors.New("tolerance, max_body and max_header_size must not be negative")
	}
	if a.MaxBody == 0 {
		a.MaxBody = DefaultHTTPSignatureMaxBody
	}
	if a.Label != "" {
		if !validLabel(a.Label) {
			return fmt.Errorf("label %q is not a structured field key (lowercase letters, digits, _ - . *; starting with a letter)", a.Label)
		}
	}
	repl := caddy.NewReplacer()
	a.keys = &sigKeys{static: httpsig.KeyMap{}, algs: map[string]string{}}
	a.identities = make(map[string]*authn.Identity, len(a.Keys))
	for i := range a.Keys {
		if err := a.loadKey(repl, &a.Keys[i]); err != nil {
			return err
		}
	}
	if a.JWKSFile != "" {
		path := repl.ReplaceKnown(a.JWKSFile, "")
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("jwks_file: %w", err)
		}
		set, err := authn.ParseJWKS(data)
		if err != nil {
			return fmt.Errorf("jwks_file %s: %w", path, err)
		}
		for _, j := range set {
			if j.Kid == "" {
				return fmt.Errorf("jwks_file %s: a key has no kid (the kid is the key id clients send)", path)
			}
			if _, dup := a.keys.static[j.Kid]; dup {
				return fmt.Errorf("jwks_file %s: key id %q is configured twice", path, j.Kid)
			}
			k, err := httpsig.FromJWK(j, j.Kid, a.keys.algs[j.Kid])
			if err != nil {
				return fmt.Errorf("jwks_file %s: %w", path, err)
			}
			a.keys.static[j.Kid] = k
		}
	}
	if a.JWKSURL != "" {
		u := repl.ReplaceKnown(a.JWKSURL, "")
		j, err := authn.NewJWKS(u, authn.JWKSOptions{AllowInsecureLoopback: a.JWKSAllowInsecureLoopback})
		if err != nil {
			return err
		}
		a.jwks = j
		a.keys.remote = j
	}
	for id := range a.identities {
		if a.keys.static[id] == nil && a.jwks == nil && a.JWKSFile == "" {
			return fmt.Errorf("key %q has no key material: add public_key_file, public_key, jwk or secret (or a jwks_file/jwks_url holding it)", id)
		}
	}
	if len(a.keys.static) == 0 && a.jwks == nil {
		return errors.New("no keys: add `key <id> { public_key_file <pem> }`, jwks_file or jwks_url")
	}
	v, err := httpsig.NewVerifier(httpsig.Config{
		Label:             a.Label,
		Keys:              a.keys,
		Required:          a.RequiredComponents,
		RequiredWithQuery: a.RequiredWithQuery,
		RequiredWithBody:  a.RequiredWithBody,
		Tolerance:         time.Duration(a.Tolerance),
		RequireNonce:      a.RequireNonce,
		MaxHeaderSize:     a.MaxHeaderSize,
		Replay:            st,
		NonceOnly:         a.AllowRepeatWithoutNonce,
		Now:               now,
	})
	if err != nil {
		return err
	}
	a.verifier = v
	a.challenge = "Signature"
	if a.Label != "" {
		a.challenge += ` label="` + a.Label + `"`
	}
	a.buildAcceptSignature()
	return nil
}

// validLabel reports whether s is an RFC 8941 dictionary key.
func validLabel(s string) bool {
	if s == "" || !(s[0] >= 'a' && s[0] <= 'z' || s[0] == '*') {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("_-.*", c) >= 0) {
			return false
		}
	}
	return true
}

// loadKey turns one configured key into a verification key and an
// identity.
func (a *HTTPSignatureAuth) loadKey(repl *caddy.Replacer, c *HTTPSignatureKey) error {
	if c.ID == "" {
		return errors.New("a key has no id")
	}
	if _, dup := a.identities[c.ID]; dup {
		return fmt.Errorf("key id %q is configured twice", c.ID)
	}
	if c.Algorithm != "" && !knownSigAlg(c.Algorithm) {
		return fmt.Errorf("key %q: unknown algorithm %q (known: %s)", c.ID, c.Algorithm, strings.Join(httpsig.Algorithms, ", "))
	}
	sources := 0
	for _, s := range []string{c.PublicKeyFile, c.PublicKey, c.JWK, c.Secret} {
		if s != "" {
			sources++
		}
	}
	if sources > 1 {
		return fmt.Errorf("key %q: give one of public_key_file, public_key, jwk, secret", c.ID)
	}
	var k *httpsig.Key
	var err error
	switch {
	case c.PublicKeyFile != "":
		path := repl.ReplaceKnown(c.PublicKeyFile, "")
		data, rerr := os.ReadFile(path)
		if rerr != nil {
			return fmt.Errorf("key %q: public_key_file: %w", c.ID, rerr)
		}
		k, err = httpsig.ParsePublicKeyPEM(c.ID, c.Algorithm, data)
	case c.PublicKey != "":
		k, err = parseInlinePublicKey(c.ID, c.Algorithm, strings.TrimSpace(c.PublicKey))
	case c.JWK != "":
		j, jerr := authn.ParseJWK([]byte(c.JWK))
		if jerr != nil {
			return fmt.Errorf("key %q: jwk: %w", c.ID, jerr)
		}
		if j.Kid != "" && j.Kid != c.ID {
			return fmt.Errorf("key %q: the jwk's kid %q differs from the key id", c.ID, j.Kid)
		}
		k, err = httpsig.FromJWK(j, c.ID, c.Algorithm)
	case c.Secret != "":
		if c.Algorithm != "" && c.Algorithm != httpsig.AlgHMACSHA256 {
			return fmt.Errorf("key %q: a secret is for hmac-sha256, not %s", c.ID, c.Algorithm)
		}
		secret, rerr := repl.ReplaceOrErr(c.Secret, true, true)
		if rerr != nil {
			return fmt.Errorf("key %q: secret: %v (is the environment variable set?)", c.ID, rerr)
		}
		k, err = httpsig.NewHMACKey(c.ID, []byte(secret))
	}
	if err != nil {
		return err
	}
	if k != nil {
		a.keys.static[c.ID] = k
	}
	if c.Algorithm != "" {
		a.keys.algs[c.ID] = c.Algorithm
	}
	user := c.User
	if user == "" {
		user = c.ID
	}
	claims := make(map[string]any, len(c.Metadata)+1)
	for name, v := range c.Metadata {
		claims[name] = v
	}
	claims["key_id"] = c.ID
	a.identities[c.ID] = &authn.Identity{ID: user, Method: HTTPSignatureMethod, Scopes: c.Scopes, Roles: c.Roles, Claims: claims}
	return nil
}

func knownSigAlg(s string) bool {
	for _, a := range httpsig.Algorithms {
		if a == s {
			return true
		}
	}
	return false
}

// parseInlinePublicKey accepts PEM text or the base64 of a DER SPKI.
func parseInlinePublicKey(id, alg, s string) (*httpsig.Key, error) {
	if strings.HasPrefix(s, "-----BEGIN") {
		return httpsig.ParsePublicKeyPEM(id, alg, []byte(s))
	}
	der, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("key %q: public_key is neither PEM nor base64 DER: %w", id, err)
	}
	block := "-----BEGIN PUBLIC KEY-----\n" + base64.StdEncoding.EncodeToString(der) + "\n-----END PUBLIC KEY-----\n"
	return httpsig.ParsePublicKeyPEM(id, alg, []byte(block))
}

// buildAcceptSignature precomputes the Accept-Signature field (RFC 9421
// §5.1) sent with a refusal: the label, the components this request must
// cover, and the parameters wanted.
func (a *HTTPSignatureAuth) buildAcceptSignature() {
	label := a.Label
	if label == "" {
		label = "sig1"
	}
	req := a.RequiredComponents
	if req == nil {
		req = httpsig.DefaultRequired
	}
	q, b := a.RequiredWithQuery, a.RequiredWithBody
	if q == nil {
		q = httpsig.DefaultRequiredWithQuery
	}
	if b == nil {
		b = httpsig.DefaultRequiredWithBody
	}
	for i := range a.accept {
		comps := append([]string(nil), req...)
		if i&1 != 0 {
			comps = append(comps, q...)
		}
		if i&2 != 0 {
			comps = append(comps, b...)
		}
		items := make([]httpsfv.Item, 0, len(comps))
		for _, c := range comps {
			items = append(items, httpsfv.NewItem(c))
		}
		params := httpsfv.NewParams()
		params.Add("created", true)
		if a.RequireNonce {
			params.Add("nonce", true)
		}
		d := httpsfv.NewDictionary()
		d.Add(label, httpsfv.InnerList{Items: items, Params: params})
		a.accept[i], _ = httpsfv.Marshal(d)
	}
}

// Cleanup stops the JWKS refresher.
func (a *HTTPSignatureAuth) Cleanup() error {
	if a.jwks != nil {
		a.jwks.Stop()
	}
	return nil
}

// errSigBodyTooLarge is returned by the body reader past MaxBody.
var errSigBodyTooLarge = errors.New("body too large")

// Authenticate implements caddyauth.Authenticator.
func (a *HTTPSignatureAuth) Authenticate(w http.ResponseWriter, r *http.Request) (caddyauth.User, bool, error) {
	m := httpsig.Message{
		Request: httpsig.Request{
			Method: r.Method, Scheme: "http", Authority: r.Host,
			RequestURI: r.RequestURI, Header: r.Header,
		},
		HasBody: r.ContentLength > 0 || (r.ContentLength < 0 && r.Body != nil && r.Body != http.NoBody),
	}
	if r.TLS != nil {
		m.Scheme = "https"
	}
	// the request as the client sent it, before any rewrite
	if orig, ok := r.Context().Value(caddyhttp.OriginalRequestCtxKey).(http.Request); ok && orig.RequestURI != "" {
		m.Method, m.RequestURI = orig.Method, orig.RequestURI
	}
	var body []byte
	read := false
	m.ReadBody = func() ([]byte, error) {
		read = true
		if r.ContentLength > a.MaxBody {
			return nil, errSigBodyTooLarge
		}
		if r.Body == nil || r.Body == http.NoBody {
			return nil, nil
		}
		b, err := io.ReadAll(io.LimitReader(r.Body, a.MaxBody+1))
		if err != nil {
			return nil, err
		}
		if int64(len(b)) > a.MaxBody {
			return nil, errSigBodyTooLarge
		}
		_ = r.Body.Close()
		body = b
		return b, nil
	}
	res, err := a.verifier.Verify(r.Context(), &m)
	if read && body != nil {
		// passed on byte for byte, whatever the outcome
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	if err != nil {
		return a.fail(w, r, &m, err)
	}
	id := a.identity(res.Key.ID)
	if !a.PassHeaders {
		delete(r.Header, "Signature")
		delete(r.Header, "Signature-Input")
	}
	if c := a.logger.Check(zapcore.DebugLevel, "http signature accepted"); c != nil {
		c.Write(zap.String("user", id.ID), zap.String("key_id", res.Key.ID), zap.String("label", res.Label))
	}
	return PublishIdentity(r, id, a.IdentityHeaders), true, nil
}

// identity returns a fresh identity for a key id: the configured one, or
// the key id alone for a JWKS key without a key block.
func (a *HTTPSignatureAuth) identity(keyID string) *authn.Identity {
	if c, ok := a.identities[keyID]; ok {
		return &authn.Identity{ID: c.ID, Method: c.Method, Scopes: c.Scopes, Roles: c.Roles, Claims: maps.Clone(c.Claims)}
	}
	return &authn.Identity{ID: keyID, Method: HTTPSignatureMethod, Claims: map[string]any{"key_id": keyID}}
}

// fail records why the request was refused; the renderer answers with it.
func (a *HTTPSignatureAuth) fail(w http.ResponseWriter, r *http.Request, m *httpsig.Message, err error) (caddyauth.User, bool, error) {
	RequestID(w, r)
	var p *problem.Problem
	var ve *httpsig.Error
	switch {
	case errors.As(err, &ve):
		code := problem.CodeInvalidSignature
		if ve.Kind == httpsig.KindReplayed {
			code = problem.CodeReplayedRequest
		}
		i := 0
		if _, q, _ := strings.Cut(m.RequestURI, "?"); q != "" {
			i |= 1
		}
		if m.HasBody {
			i |= 2
		}
		p = problem.New(http.StatusUnauthorized, code, ve.Detail).
			WithHeader("WWW-Authenticate", a.challenge).
			WithHeader("Accept-Signature", a.accept[i])
	case errors.Is(err, errSigBodyTooLarge):
		p = tooLarge(a.MaxBody)
	case errors.Is(err, httpsig.ErrReplayStore):
		a.logger.Error("replay store unavailable; rejecting signed request", zap.Error(err))
		p = problem.New(http.StatusServiceUnavailable, problem.CodeServiceUnavailable,
			"signatures cannot be checked right now").WithHeader("Retry-After", "1")
	default:
		// the body could not be read (client went away, bad framing)
		p = problem.New(http.StatusBadRequest, problem.CodeBadRequest, "the request body could not be read")
	}
	RecordAuthFailure(r, p)
	Audit(r, "auth_failed", p.Code, zap.String("provider", "apigw_http_signature"), zap.String("reason", p.Detail))
	return caddyauth.User{}, false, nil
}

// sigKeys resolves key ids: configured keys first, then the JWKS URL.
type sigKeys struct {
	static httpsig.KeyMap
	remote *authn.JWKS
	algs   map[string]string // algorithms pinned by key blocks
}

// Key implements httpsig.KeyResolver.
func (k *sigKeys) Key(id string) *httpsig.Key {
	if key := k.static[id]; key != nil {
		return key
	}
	if k.remote == nil || id == "" {
		return nil
	}
	for _, j := range k.remote.Keys(id) {
		if j.Kid != id {
			continue
		}
		if key, err := httpsig.FromJWK(j, id, k.algs[id]); err == nil {
			return key
		}
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner       = (*HTTPSignatureAuth)(nil)
	_ caddy.CleanerUpper      = (*HTTPSignatureAuth)(nil)
	_ caddyauth.Authenticator = (*HTTPSignatureAuth)(nil)
	_ httpsig.KeyResolver     = (*sigKeys)(nil)
)
