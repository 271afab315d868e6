package caddymodule

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"
	"go.uber.org/zap"

	"github.com/apigw/caddy-apigw/failure"
	"github.com/apigw/caddy-apigw/hmacsig"
	"github.com/apigw/caddy-apigw/problem"
)

func init() {
	caddy.RegisterModule(Signature{})
	registerGatewayHandlerDirective("apigw_signature", parseSignature)
}

// Defaults of Signature.
const (
	DefaultSignatureTolerance = 300 * time.Second
	DefaultSignatureMaxBody   = 1 << 20
)

// Signature accepts only HMAC-signed requests, each signature once. The
// client sends
//
//	X-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<METHOD>.<path and query>.<hex SHA-256 of body>")>
//
// where "path and query" is the request target exactly as sent. The
// timestamp must be within ±tolerance of the gateway's clock; the
// signature is then remembered in the store (every instance sharing it)
// for twice the tolerance, and a second use gets 401 replayed_request.
// Any other failure is 401 invalid_signature with a precise detail. The
// body is read once (up to max_body; larger is 413) and passed on intact.
type Signature struct {
	// Secrets are the HMAC keys, each at least 32 bytes. Give two during
	// a rotation: a signature by either is accepted, and clients may
	// send one v1= value per secret. Placeholders ({env.SIGNING_SECRET},
	// {file./run/secrets/signing}) are expanded at provision.
	Secrets []string `json:"secrets,omitempty"`
	// Tolerance is the accepted clock difference. Default: 300s.
	Tolerance caddy.Duration `json:"tolerance,omitempty"`
	// MaxBody caps the body in bytes. Default: 1 MiB.
	MaxBody int64 `json:"max_body,omitempty"`
	// Header is the signature header. Default: X-Signature.
	Header string `json:"header,omitempty"`
	// PassHeader keeps the signature header in the request sent upstream.
	// Default: false (removed).
	PassHeader bool `json:"pass_header,omitempty"`

	verifier *hmacsig.Verifier
	replay   *hmacsig.ReplayCache
	logger   *zap.Logger
	now      func() time.Time
}

// CaddyModule returns the Caddy module information.
func (Signature) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.apigw_signature",
		New: func() caddy.Module { return new(Signature) },
	}
}

// Provision expands the secrets and connects the replay cache to the
// shared store.
func (s *Signature) Provision(ctx caddy.Context) error {
	s.logger = ctx.Logger()
	if s.Tolerance <= 0 {
		s.Tolerance = caddy.Duration(DefaultSignatureTolerance)
	}
	if s.MaxBody <= 0 {
		s.MaxBody = DefaultSignatureMaxBody
	}
	if s.Header == "" {
		s.Header = hmacsig.SignatureHeader
	}
	RedactCredentialHeaders(ctx, "", s.Header)
	if s.now == nil {
		s.now = time.Now
	}
	repl := caddy.NewReplacer()
	secrets := make([][]byte, 0, len(s.Secrets))
	for i, raw := range s.Secrets {
		v, err := repl.ReplaceOrErr(raw, true, true)
		if err != nil {
			return fmt.Errorf("apigw_signature: secret #%d: %v (is the environment variable set?)", i+1, err)
		}
		secrets = append(secrets, []byte(v))
	}
	v, err := hmacsig.NewVerifier(secrets, time.Duration(s.Tolerance))
	if err != nil {
		return fmt.Errorf("apigw_signature: %w", err)
	}
	s.verifier = v
	st, err := StoreFrom(ctx)
	if err != nil {
		return fmt.Errorf("apigw_signature: %w", err)
	}
	s.replay = hmacsig.NewReplayCache(st, 2*time.Duration(s.Tolerance))
	return nil
}

// reject answers a signature failure: 401 with the signature challenge
// (invalid_signature or replayed_request, audited), or 503 when the
// replay cache is down.
func (s *Signature) reject(r *http.Request, err error) error {
	p := problemFromError(err)
	switch {
	case errors.Is(err, failure.ErrReplayedRequest):
		Audit(r, "signature_replayed", p.Code)
	case errors.Is(err, failure.ErrInvalidSignature):
		Audit(r, "signature_rejected", p.Code, zap.String("reason", p.Detail))
	default:
		logStoreError(s.logger, "signature replay cache failed", err)
		return Fail(p)
	}
	return Fail(p.WithHeader("WWW-Authenticate", `HMAC-SHA256 realm="apigw", header="`+s.Header+`"`))
}

// ServeHTTP verifies the signature.
func (s *Signature) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	var sig hmacsig.Signature
	if err := hmacsig.ParseSignature(s.Header, r.Header.Get(s.Header), &sig); err != nil {
		return s.reject(r, err)
	}
	if r.ContentLength > s.MaxBody {
		return Fail(tooLarge(s.MaxBody))
	}
	var body []byte
	if r.Body != nil && r.Body != http.NoBody {
		b, err := io.ReadAll(io.LimitReader(r.Body, s.MaxBody+1))
		if err != nil {
			return Fail(problem.New(http.StatusBadRequest, problem.CodeBadRequest, "the request body could not be read"))
		}
		if int64(len(b)) > s.MaxBody {
			return Fail(tooLarge(s.MaxBody))
		}
		_ = r.Body.Close()
		body = b
	}
	sum := sha256.Sum256(body)
	target := r.RequestURI
	if target == "" || target[0] != '/' {
		target = r.URL.RequestURI()
	}
	match, err := s.verifier.Verify(&sig, r.Method, target, &sum, s.now())
	if err == nil {
		err = s.replay.Accept(r.Context(), &sig.MACs[match])
	}
	if err != nil {
		return s.reject(r, err)
	}
	if body != nil {
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	if !s.PassHeader {
		r.Header.Del(s.Header)
	}
	observeAuthSuccess("signature")
	return next.ServeHTTP(w, r)
}

// parseSignature sets up the handler from Caddyfile tokens. Syntax:
//
//	apigw_signature [<matcher>] {
//	    secret <secret>          # >= 32 bytes; repeat for rotation; use {env.X} / {$X}
//	    tolerance <duration>     # default 300s
//	    max_body <size>          # default 1MiB
//	    header <name>            # default X-Signature
//	    pass_header              # keep the header upstream
//	}
func parseSignature(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	h.Next() // consume directive name
	if h.NextArg() {
		return nil, h.ArgErr()
	}
	s := new(Signature)
	for h.NextBlock(0) {
		switch opt := h.Val(); opt {
		case "secret":
			var v string
			if !h.AllArgs(&v) {
				return nil, h.ArgErr()
			}
			if !hasPlaceholder(v) {
				if err := hmacsig.CheckSecret([]byte(v)); err != nil {
					return nil, h.Errf("apigw_signature: %v", err)
				}
			}
			s.Secrets = append(s.Secrets, v)
		case "tolerance":
			var v string
			if !h.AllArgs(&v) {
				return nil, h.ArgErr()
			}
			d, err := caddy.ParseDuration(v)
			if err != nil || d <= 0 {
				return nil, h.Errf("apigw_signature: tolerance %q: want a positive duration such as 300s", v)
			}
			s.Tolerance = caddy.Duration(d)
		case "max_body":
			var err error
			if s.MaxBody, err = parseMaxBody(h, "apigw_signature", "1MiB"); err != nil {
				return nil, err
			}
		case "header":
			if !h.AllArgs(&s.Header) {
				return nil, h.ArgErr()
			}
		case "pass_header":
			if h.NextArg() {
				return nil, h.ArgErr()
			}
			s.PassHeader = true
		default:
			return nil, h.Errf("apigw_signature: unrecognized option %q (known: secret, tolerance, max_body, header, pass_header)", opt)
		}
	}
	if len(s.Secrets) == 0 {
		return nil, h.Err("apigw_signature: no secret: add `secret {env.SIGNING_SECRET}`")
	}
	return s, nil
}

// parseMaxBody parses the argument of a `max_body <size>` option: a
// positive size such as 16KiB. directive and example name the fix in the
// error.
func parseMaxBody(h httpcaddyfile.Helper, directive, example string) (int64, error) {
	var v string
	if !h.AllArgs(&v) {
		return 0, h.ArgErr()
	}
	n, err := humanize.ParseBytes(v)
	if err != nil || n == 0 {
		return 0, h.Errf("%s: max_body %q: want a size such as %s", directive, v, example)
	}
	return int64(n), nil
}

// Interface guards
var (
	_ caddyhttp.MiddlewareHandler = (*Signature)(nil)
	_ caddy.Provisioner           = (*Signature)(nil)
)
