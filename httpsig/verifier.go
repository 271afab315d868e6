package httpsig

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/apigw/caddy-apigw/failure"
)

// invalid is a refusal of kind failure.ErrInvalidSignature; detail is
// safe to show the client: it names what is wrong without repeating
// client input or key material.
func invalid(detail string) error { return failure.New(failure.ErrInvalidSignature, detail) }

// KeyResolver finds the key for a key id; nil when unknown.
type KeyResolver interface {
	Key(id string) *Key
}

// KeyMap is a static KeyResolver.
type KeyMap map[string]*Key

// Key implements KeyResolver.
func (m KeyMap) Key(id string) *Key { return m[id] }

// ReplayStore remembers accepted nonces and messages for a while; every
// instance that shares it refuses a second use. store.Store satisfies it.
type ReplayStore interface {
	SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error)
}

// Defaults of Config.
const (
	DefaultTolerance = 300 * time.Second
)

// DefaultRequired, DefaultRequiredWithQuery and DefaultRequiredWithBody
// are the covered components a signature needs unless configured
// otherwise: method, authority and path always, the query when the
// request has one, and the body's digest when it has a body.
var (
	DefaultRequired          = []string{"@method", "@authority", "@path"}
	DefaultRequiredWithQuery = []string{"@query"}
	DefaultRequiredWithBody  = []string{"content-digest"}
)

// Config configures a Verifier.
type Config struct {
	// Label is the signature label to verify (e.g. "sig1"); other labels
	// are ignored. Empty: the request must carry exactly one signature.
	Label string
	// Keys resolves key ids. Required.
	Keys KeyResolver
	// Required components, always; nil means DefaultRequired.
	Required []string
	// RequiredWithQuery are required when the request has a query; nil
	// means DefaultRequiredWithQuery.
	RequiredWithQuery []string
	// RequiredWithBody are required when the request has a body; nil
	// means DefaultRequiredWithBody.
	RequiredWithBody []string
	// Tolerance is the accepted difference between created and the
	// gateway's clock, both ways; 0 means DefaultTolerance.
	Tolerance time.Duration
	// RequireNonce refuses signatures without a nonce parameter.
	RequireNonce bool
	// MaxHeaderSize caps Signature-Input and Signature; 0 means
	// DefaultMaxHeaderSize.
	MaxHeaderSize int
	// Replay, when set, makes every nonce (per key id) single use, and
	// every signed message without a nonce too. nil disables the check.
	Replay ReplayStore
	// NonceOnly limits the replay check to nonces: a signed message
	// without a nonce may then be repeated until it is outside the
	// created/expires window (RFC 9421's own model, §7.2.2).
	NonceOnly bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Verifier verifies request signatures. It is safe for concurrent use.
type Verifier struct {
	cfg Config
}

// NewVerifier checks cfg and returns a Verifier.
func NewVerifier(cfg Config) (*Verifier, error) {
	if cfg.Keys == nil {
		return nil, errors.New("httpsig: no keys")
	}
	if cfg.Required == nil {
		cfg.Required = DefaultRequired
	}
	if cfg.RequiredWithQuery == nil {
		cfg.RequiredWithQuery = DefaultRequiredWithQuery
	}
	if cfg.RequiredWithBody == nil {
		cfg.RequiredWithBody = DefaultRequiredWithBody
	}
	for _, list := range [][]string{cfg.Required, cfg.RequiredWithQuery, cfg.RequiredWithBody} {
		for _, c := range list {
			if err := CheckComponentName(c); err != nil {
				return nil, err
			}
		}
	}
	if cfg.Tolerance <= 0 {
		cfg.Tolerance = DefaultTolerance
	}
	if cfg.MaxHeaderSize <= 0 {
		cfg.MaxHeaderSize = DefaultMaxHeaderSize
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Verifier{cfg: cfg}, nil
}

// CheckComponentName reports whether c can be a required component: a
// derived component a request has, or a lowercase header field name.
func CheckComponentName(c string) error {
	switch c {
	case "@method", "@target-uri", "@authority", "@scheme", "@request-target", "@path", "@query":
		return nil
	case "":
		return errors.New("httpsig: empty component name")
	}
	if c[0] == '@' {
		return fmt.Errorf("httpsig: %q cannot be required (known: @method @target-uri @authority @scheme @request-target @path @query, or a header field name)", c)
	}
	for i := 0; i < len(c); i++ {
		b := c[i]
		if !(b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", b) >= 0) {
			return fmt.Errorf("httpsig: %q is not a lowercase header field name", c)
		}
	}
	return nil
}

// Result describes an accepted signature.
type Result struct {
	// Key is the key that verified the signature.
	Key *Key
	// Label is the signature's label.
	Label string
	// Created is the signature's creation time.
	Created time.Time
	// Tag is the tag parameter, if any.
	Tag string
}

// Message is what Verify needs of a request besides its target and
// header fields.
type Message struct {
	Request
	// HasBody reports that the request has content (Content-Length > 0
	// or chunked).
	HasBody bool
	// ReadBody returns the whole body; it is called at most once, and
	// only when a Content-Digest must be checked. Its error is returned
	// by Verify unchanged.
	ReadBody func() ([]byte, error)
}

// Verify checks the signature of m. A refusal is a failure of kind
// failure.ErrInvalidSignature or failure.ErrReplayedRequest; a replay
// store failure wraps failure.ErrUnavailable; an error of ReadBody is
// returned unchanged.
func (v *Verifier) Verify(ctx context.Context, m *Message) (*Result, error) {
	inLines, sigLines := m.Header["Signature-Input"], m.Header["Signature"]
	switch {
	case len(inLines) == 0 && len(sigLines) == 0:
		return nil, invalid("the request is not signed: send Signature-Input and Signature (RFC 9421)")
	case len(inLines) == 0:
		return nil, invalid("Signature is present but Signature-Input is missing")
	case len(sigLines) == 0:
		return nil, invalid("Signature-Input is present but Signature is missing")
	case len(inLines) > 1:
		return nil, invalid("Signature-Input is sent more than once: send one field line")
	case len(sigLines) > 1:
		return nil, invalid("Signature is sent more than once: send one field line")
	case len(inLines[0]) > v.cfg.MaxHeaderSize:
		return nil, invalid("Signature-Input is larger than " + strconv.Itoa(v.cfg.MaxHeaderSize) + " bytes")
	case len(sigLines[0]) > v.cfg.MaxHeaderSize:
		return nil, invalid("Signature is larger than " + strconv.Itoa(v.cfg.MaxHeaderSize) + " bytes")
	}
	s, err := ParseSignature(inLines[0], sigLines[0], v.cfg.Label)
	if err != nil {
		return nil, err
	}
	if s.KeyID == "" {
		return nil, invalid("Signature-Input: keyid is required")
	}
	key := v.cfg.Keys.Key(s.KeyID)
	if key == nil {
		return nil, invalid("Signature-Input: keyid names no key known to the gateway")
	}
	if s.Alg != "" && s.Alg != key.Alg {
		return nil, invalid("Signature-Input: alg does not match the algorithm of the key (" + key.Alg + ")")
	}
	now := v.cfg.Now()
	if err := v.checkTime(s, now); err != nil {
		return nil, err
	}
	if v.cfg.RequireNonce && !s.HasNonce {
		return nil, invalid("Signature-Input: nonce is required")
	}
	if err := v.checkRequired(s, m); err != nil {
		return nil, err
	}
	base, err := Base(&m.Request, s)
	if err != nil {
		return nil, err
	}
	if key.verify(base, s.Value) != nil {
		return nil, invalid("the signature does not verify: the covered components or parameters differ from what was signed, or another key signed it")
	}
	if digest := m.Header["Content-Digest"]; len(digest) > 0 {
		if m.ReadBody == nil {
			return nil, errors.New("httpsig: Content-Digest present but no ReadBody")
		}
		body, err := m.ReadBody()
		if err != nil {
			return nil, err
		}
		if err := CheckContentDigest(digest, body); err != nil {
			return nil, err
		}
	}
	if v.cfg.Replay != nil && (s.HasNonce || !v.cfg.NonceOnly) {
		if err := v.once(ctx, s, key, base, now); err != nil {
			return nil, err
		}
	}
	return &Result{Key: key, Label: s.Label, Created: time.Unix(s.Created, 0), Tag: s.Tag}, nil
}

// checkTime enforces created (required, within ±tolerance) and expires.
func (v *Verifier) checkTime(s *Signature, now time.Time) error {
	if !s.HasCreated {
		return invalid("Signature-Input: created is required")
	}
	tol := int64(v.cfg.Tolerance / time.Second)
	n := now.Unix()
	if s.Created > n+tol {
		return invalid("Signature-Input: created is in the future beyond the allowed ±" + strconv.FormatInt(tol, 10) + "s (check the client clock)")
	}
	if s.Created < n-tol {
		return invalid("Signature-Input: created is older than the allowed ±" + strconv.FormatInt(tol, 10) + "s: sign every request anew")
	}
	if s.HasExpires {
		if s.Expires < s.Created {
			return invalid("Signature-Input: expires is before created")
		}
		if n > s.Expires {
			return invalid("the signature has expired (expires is in the past)")
		}
	}
	return nil
}

// checkRequired makes sure the configured components are covered.
func (v *Verifier) checkRequired(s *Signature, m *Message) error {
	covered := func(name string) bool {
		for _, c := range s.Components {
			if c.Value.(string) != name {
				continue
			}
			// "content-digest";key="md5" signs one dictionary member
			// only: the others (sha-256, checked against the body) could
			// be added or changed in transit
			if c.Params != nil {
				if _, one := c.Params.Get("key"); one {
					continue
				}
			}
			return true
		}
		return false
	}
	check := func(list []string, when string) error {
		for _, name := range list {
			if !covered(name) {
				return invalid(fmt.Sprintf("Signature-Input must cover %q%s", name, when))
			}
		}
		return nil
	}
	if err := check(v.cfg.Required, ""); err != nil {
		return err
	}
	if _, q, _ := strings.Cut(m.RequestURI, "?"); q != "" {
		if err := check(v.cfg.RequiredWithQuery, " when the request has a query"); err != nil {
			return err
		}
	}
	if m.HasBody {
		if err := check(v.cfg.RequiredWithBody, " when the request has a body"); err != nil {
			return err
		}
	}
	return nil
}

// once records the nonce (per key id) or, without a nonce, the signed
// message, until the signature could no longer be accepted anyway.
func (v *Verifier) once(ctx context.Context, s *Signature, key *Key, base []byte, now time.Time) error {
	h := sha256.New()
	h.Write([]byte(key.ID))
	if s.HasNonce {
		h.Write([]byte{0, 'n'})
		h.Write([]byte(s.Nonce))
	} else {
		h.Write([]byte{0, 'b'})
		h.Write(base)
	}
	var sum [sha256.Size]byte
	var kb [len("httpsig:") + 2*sha256.Size]byte
	k := append(kb[:0], "httpsig:"...)
	k = hex.AppendEncode(k, h.Sum(sum[:0]))
	until := s.Created + int64(v.cfg.Tolerance/time.Second)
	if s.HasExpires && s.Expires < until {
		until = s.Expires
	}
	ttl := time.Duration(until-now.Unix())*time.Second + time.Second
	if ttl < time.Second {
		ttl = time.Second
	}
	fresh, err := v.cfg.Replay.SetNX(ctx, string(k), []byte{1}, ttl)
	if err != nil {
		return failure.Wrap(failure.ErrUnavailable, "signatures cannot be checked right now", fmt.Errorf("httpsig: replay store: %w", err))
	}
	if !fresh {
		if s.HasNonce {
			return failure.New(failure.ErrReplayedRequest, "this nonce was already used: sign every request with a new nonce")
		}
		return failure.New(failure.ErrReplayedRequest, "this signed request was already accepted: sign every request anew (add a nonce to send identical requests)")
	}
	return nil
}
