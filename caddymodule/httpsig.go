package caddymodule

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/apigw/caddy-apigw/failure"
	"github.com/apigw/caddy-apigw/httpsig"
	"github.com/apigw/caddy-apigw/problem"
	"github.com/apigw/caddy-apigw/store"
)

func init() {
	caddy.RegisterModule(HTTPSignatureAuth{})
}

// HTTPSignatureMethod is the identity method of a request authenticated
// by an HTTP Message Signature.
const HTTPSignatureMethod = httpsig.Method

// DefaultHTTPSignatureMaxBody caps the body read for Content-Digest.
const DefaultHTTPSignatureMaxBody = httpsig.DefaultMaxBody

// HTTPSignatureKey is one client key (id, key material, identity).
type HTTPSignatureKey = httpsig.KeyConfig

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
	// Settings are the keys and the verification options (keys,
	// jwks_file, jwks_url, label, required_components, max_body, ...).
	httpsig.Settings
	// Tolerance is the accepted difference between created and the
	// gateway's clock, both ways. Default: 300s.
	Tolerance caddy.Duration `json:"tolerance,omitempty"`
	// PassHeaders keeps Signature and Signature-Input on the request sent
	// upstream. Default: false (removed).
	PassHeaders bool `json:"pass_headers,omitempty"`
	// IdentityHeaders names the upstream headers that carry the identity
	// (default X-Auth-User; metadata via claims, e.g. {"key_id":
	// "X-Auth-Key-Id"}).
	IdentityHeaders IdentityHeaders `json:"identity_headers,omitzero"`

	auth   *httpsig.Authenticator
	logger *zap.Logger
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
	s, err := a.settings(caddy.NewReplacer())
	if err != nil {
		return err
	}
	a.auth, err = httpsig.NewAuthenticator(s, st, now)
	return err
}

// settings are the domain's settings, with placeholders expanded when
// repl is set (provision), as written otherwise (Caddyfile).
func (a *HTTPSignatureAuth) settings(repl *caddy.Replacer) (httpsig.Settings, error) {
	s := a.Settings
	s.Tolerance = time.Duration(a.Tolerance)
	if repl == nil {
		return s, nil
	}
	s.JWKSFile, s.JWKSURL = repl.ReplaceKnown(a.JWKSFile, ""), repl.ReplaceKnown(a.JWKSURL, "")
	s.Keys = make([]httpsig.KeyConfig, len(a.Keys))
	for i, k := range a.Keys {
		k.PublicKeyFile = repl.ReplaceKnown(k.PublicKeyFile, "")
		if k.Secret != "" {
			secret, err := repl.ReplaceOrErr(k.Secret, true, true)
			if err != nil {
				return s, fmt.Errorf("key %q: secret: %v (is the environment variable set?)", k.ID, err)
			}
			k.Secret = secret
		}
		s.Keys[i] = k
	}
	return s, nil
}

// Cleanup stops the JWKS refresher.
func (a *HTTPSignatureAuth) Cleanup() error {
	if a.auth != nil {
		a.auth.Close()
	}
	return nil
}

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
	m.ReadBody = func() ([]byte, error) {
		if r.Body == nil || r.Body == http.NoBody {
			return nil, nil
		}
		b, err := a.auth.ReadBody(r.Body, r.ContentLength)
		if err == nil {
			_ = r.Body.Close()
			body = b
		}
		return b, err
	}
	id, res, err := a.auth.Authenticate(r.Context(), &m)
	if body != nil {
		// passed on byte for byte, whatever the outcome
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	if err != nil {
		a.reject(w, r, a.refusal(&m, err))
		return caddyauth.User{}, false, nil
	}
	if !a.PassHeaders {
		delete(r.Header, "Signature")
		delete(r.Header, "Signature-Input")
	}
	if c := a.logger.Check(zapcore.DebugLevel, "http signature accepted"); c != nil {
		c.Write(zap.String("user", id.ID), zap.String("key_id", res.Key.ID), zap.String("label", res.Label))
	}
	return PublishIdentity(r, id, a.IdentityHeaders), true, nil
}

// refusal is the problem for a refused request: a signature refusal
// carries the challenge, an outage Retry-After.
func (a *HTTPSignatureAuth) refusal(m *httpsig.Message, err error) *problem.Problem {
	p := problemFromError(err)
	switch {
	case errors.Is(err, failure.ErrInvalidSignature), errors.Is(err, failure.ErrReplayedRequest):
		www, accept := a.auth.Challenge(m)
		p = p.WithHeader("WWW-Authenticate", www).WithHeader("Accept-Signature", accept)
	case errors.Is(err, failure.ErrUnavailable):
		a.logger.Error("replay store unavailable; rejecting signed request", zap.Error(err))
		p = p.WithHeader("Retry-After", "1")
	}
	return p
}

// reject records why the request was refused; the renderer answers with it.
func (a *HTTPSignatureAuth) reject(w http.ResponseWriter, r *http.Request, p *problem.Problem) {
	authFailed(w, r, "apigw_http_signature", p, zap.String("reason", p.Detail))
}

// Interface guards
var (
	_ caddy.Provisioner       = (*HTTPSignatureAuth)(nil)
	_ caddy.CleanerUpper      = (*HTTPSignatureAuth)(nil)
	_ caddyauth.Authenticator = (*HTTPSignatureAuth)(nil)
)
