package httpsig

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"maps"
	"os"
	"strings"
	"time"

	"github.com/dunglas/httpsfv"
	"github.com/dustin/go-humanize"

	"github.com/apigw/caddy-apigw/authn"
	"github.com/apigw/caddy-apigw/failure"
)

// Method is the identity method of a request authenticated by an HTTP
// Message Signature.
const Method = "http_signature"

// Authenticator turns a signed request into the identity of its key: the
// configured keys (and JWKS), the identities they authenticate as, and
// the Verifier. It is safe for concurrent use.
type Authenticator struct {
	v          *Verifier
	keys       *keyring
	identities map[string]*authn.Identity
	maxBody    int64
	challenge  string
	accept     [4]string // Accept-Signature by [hasQuery + 2*hasBody]
}

// NewAuthenticator checks s, loads the keys (reading files; a JWKS URL
// is fetched in the background) and returns the authenticator; replay is
// the store that makes nonces and signed messages single use. Close
// stops the JWKS refresher.
func NewAuthenticator(s Settings, replay ReplayStore, now func() time.Time) (*Authenticator, error) {
	if err := s.Check(); err != nil {
		return nil, err
	}
	a := &Authenticator{keys: &keyring{static: KeyMap{}, algs: map[string]string{}},
		identities: make(map[string]*authn.Identity, len(s.Keys)), maxBody: s.MaxBody}
	if a.maxBody == 0 {
		a.maxBody = DefaultMaxBody
	}
	for i := range s.Keys {
		if err := a.loadKey(&s.Keys[i]); err != nil {
			return nil, err
		}
	}
	if s.JWKSFile != "" {
		if err := a.loadJWKSFile(s.JWKSFile); err != nil {
			return nil, err
		}
	}
	if s.JWKSURL != "" {
		j, err := authn.NewJWKS(s.JWKSURL, authn.JWKSOptions{AllowInsecureLoopback: s.JWKSAllowInsecureLoopback})
		if err != nil {
			return nil, err
		}
		a.keys.remote = j
	}
	v, err := NewVerifier(Config{
		Label: s.Label, Keys: a.keys, Required: s.RequiredComponents,
		RequiredWithQuery: s.RequiredWithQuery, RequiredWithBody: s.RequiredWithBody,
		Tolerance: s.Tolerance, RequireNonce: s.RequireNonce, MaxHeaderSize: s.MaxHeaderSize,
		Replay: replay, NonceOnly: s.AllowRepeatWithoutNonce, Now: now,
	})
	if err != nil {
		a.Close()
		return nil, err
	}
	a.v = v
	a.challenge = "Signature"
	if s.Label != "" {
		a.challenge += ` label="` + s.Label + `"`
	}
	a.buildAcceptSignature(s)
	return a, nil
}

// Close stops the JWKS refresher, if any.
func (a *Authenticator) Close() {
	if a.keys.remote != nil {
		a.keys.remote.Stop()
	}
}

// Authenticate verifies m's signature and returns a fresh identity of
// its key with the verification result. Errors are failure kinds:
// ErrInvalidSignature and ErrReplayedRequest (answer with Challenge),
// ErrPayloadTooLarge and ErrBadRequest from ReadBody, ErrUnavailable
// when the replay store is down.
func (a *Authenticator) Authenticate(ctx context.Context, m *Message) (*authn.Identity, *Result, error) {
	res, err := a.v.Verify(ctx, m)
	if err != nil {
		return nil, nil, err
	}
	if c, ok := a.identities[res.Key.ID]; ok {
		return &authn.Identity{ID: c.ID, Method: c.Method, Scopes: c.Scopes, Roles: c.Roles, Claims: maps.Clone(c.Claims)}, res, nil
	}
	// a JWKS key without a key block: the key id alone
	return &authn.Identity{ID: res.Key.ID, Method: Method, Claims: map[string]any{"key_id": res.Key.ID}}, res, nil
}

// Challenge returns the WWW-Authenticate and Accept-Signature (RFC 9421
// §5.1) fields of a refusal of m: the label, the components this request
// must cover and the parameters wanted.
func (a *Authenticator) Challenge(m *Message) (wwwAuthenticate, acceptSignature string) {
	i := 0
	if _, q, _ := strings.Cut(m.RequestURI, "?"); q != "" {
		i |= 1
	}
	if m.HasBody {
		i |= 2
	}
	return a.challenge, a.accept[i]
}

// ReadBody reads a body of contentLength (-1 when unknown) for the
// Content-Digest check: at most the configured max_body (more is
// failure.ErrPayloadTooLarge), a read error is failure.ErrBadRequest.
func (a *Authenticator) ReadBody(body io.Reader, contentLength int64) ([]byte, error) {
	tooLarge := failure.New(failure.ErrPayloadTooLarge, "the request body is larger than "+humanize.IBytes(uint64(a.maxBody)))
	if contentLength > a.maxBody {
		return nil, tooLarge
	}
	b, err := io.ReadAll(io.LimitReader(body, a.maxBody+1))
	if err != nil {
		// the client went away, or bad framing
		return nil, failure.Wrap(failure.ErrBadRequest, "the request body could not be read", err)
	}
	if int64(len(b)) > a.maxBody {
		return nil, tooLarge
	}
	return b, nil
}

// loadKey turns one configured key into a verification key and an
// identity.
func (a *Authenticator) loadKey(c *KeyConfig) error {
	var k *Key
	var err error
	switch {
	case c.PublicKeyFile != "":
		data, rerr := os.ReadFile(c.PublicKeyFile)
		if rerr != nil {
			return fmt.Errorf("key %q: public_key_file: %w", c.ID, rerr)
		}
		k, err = ParsePublicKeyPEM(c.ID, c.Algorithm, data)
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
		k, err = FromJWK(j, c.ID, c.Algorithm)
	case c.Secret != "":
		k, err = NewHMACKey(c.ID, []byte(c.Secret))
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
	a.identities[c.ID] = &authn.Identity{ID: user, Method: Method, Scopes: c.Scopes, Roles: c.Roles, Claims: claims}
	return nil
}

// loadJWKSFile adds the keys of a JWKS file, each under its kid.
func (a *Authenticator) loadJWKSFile(path string) error {
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
		k, err := FromJWK(j, j.Kid, a.keys.algs[j.Kid])
		if err != nil {
			return fmt.Errorf("jwks_file %s: %w", path, err)
		}
		a.keys.static[j.Kid] = k
	}
	return nil
}

// parseInlinePublicKey accepts PEM text or the base64 of a DER SPKI.
func parseInlinePublicKey(id, alg, s string) (*Key, error) {
	if strings.HasPrefix(s, "-----BEGIN") {
		return ParsePublicKeyPEM(id, alg, []byte(s))
	}
	der, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("key %q: public_key is neither PEM nor base64 DER: %w", id, err)
	}
	block := "-----BEGIN PUBLIC KEY-----\n" + base64.StdEncoding.EncodeToString(der) + "\n-----END PUBLIC KEY-----\n"
	return ParsePublicKeyPEM(id, alg, []byte(block))
}

// buildAcceptSignature precomputes the Accept-Signature fields.
func (a *Authenticator) buildAcceptSignature(s Settings) {
	label := s.Label
	if label == "" {
		label = "sig1"
	}
	req, q, b := s.RequiredComponents, s.RequiredWithQuery, s.RequiredWithBody
	if req == nil {
		req = DefaultRequired
	}
	if q == nil {
		q = DefaultRequiredWithQuery
	}
	if b == nil {
		b = DefaultRequiredWithBody
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
		if s.RequireNonce {
			params.Add("nonce", true)
		}
		d := httpsfv.NewDictionary()
		d.Add(label, httpsfv.InnerList{Items: items, Params: params})
		a.accept[i], _ = httpsfv.Marshal(d)
	}
}

// keyring resolves key ids: configured keys first, then the JWKS URL.
type keyring struct {
	static KeyMap
	remote *authn.JWKS
	algs   map[string]string // algorithms pinned by key blocks
}

// Key implements KeyResolver.
func (k *keyring) Key(id string) *Key {
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
		if key, err := FromJWK(j, id, k.algs[id]); err == nil {
			return key
		}
	}
	return nil
}
