package authn

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/apigw/caddy-apigw/failure"
	"github.com/apigw/caddy-apigw/store"
)

// DPoP (RFC 9449) defaults and limits.
const (
	// DPoPType is the typ header every proof must carry.
	DPoPType = "dpop+jwt"
	// DefaultDPoPMaxAge is how old (by its iat) a proof may be.
	DefaultDPoPMaxAge = 60 * time.Second
	// DefaultDPoPLeeway is how far in the future a proof's iat may be.
	DefaultDPoPLeeway = 60 * time.Second
	// MaxDPoPProofLen bounds the size of a DPoP header that is parsed at
	// all (an RSA-4096 proof is about 2.5 KiB).
	MaxDPoPProofLen = 8 << 10
	// MaxDPoPJTILen bounds the proof's jti.
	MaxDPoPJTILen = 256
	// dpopJTIPrefix namespaces seen proof ids in the store.
	dpopJTIPrefix = "dpop:jti:"
)

// DefaultDPoPAlgorithms are the proof algorithms allowed by default.
var DefaultDPoPAlgorithms = []string{"ES256", "RS256", "EdDSA"}

// DPoPSupportedAlgorithms are the asymmetric algorithms a proof may use
// when allowed; symmetric (HS*) and "none" never are.
var DPoPSupportedAlgorithms = []string{
	"RS256", "RS384", "RS512",
	"PS256", "PS384", "PS512",
	"ES256", "ES384", "ES512",
	"EdDSA",
}

// DPoPNonceRequired is the cause of a failure.ErrInvalidDPoPProof that
// asks the client to retry with a server nonce (RFC 9449 §8: the
// challenge's error is "use_dpop_nonce").
type DPoPNonceRequired struct {
	// Nonce is the nonce the client must use (the DPoP-Nonce header).
	Nonce string
}

// Error returns "use_dpop_nonce".
func (e *DPoPNonceRequired) Error() string { return "use_dpop_nonce" }

func proofErr(detail string) error {
	return failure.New(failure.ErrInvalidDPoPProof, detail)
}

// DPoPConfig configures a DPoPVerifier.
type DPoPConfig struct {
	// Algorithms is the allow-list of proof algorithms; empty means
	// DefaultDPoPAlgorithms.
	Algorithms []string
	// MaxAge is how old a proof may be; zero means DefaultDPoPMaxAge.
	MaxAge time.Duration
	// Leeway is how far in the future a proof's iat may be; zero means
	// DefaultDPoPLeeway.
	Leeway time.Duration
	// Store remembers proof ids (jti) so that each proof is accepted once
	// on every instance sharing it. Required.
	Store store.Store
	// Nonces, when set, makes proofs carry a server-issued nonce (RFC 9449
	// §8).
	Nonces *DPoPNonces
	// Now returns the current time (tests); default time.Now.
	Now func() time.Time
}

// DPoPVerifier checks DPoP proofs. It is safe for concurrent use.
type DPoPVerifier struct {
	cfg   DPoPConfig
	keys  jwkCache
	algs  []string
	ttl   time.Duration
	chall string
}

// NewDPoPVerifier checks cfg and returns a verifier.
func NewDPoPVerifier(cfg DPoPConfig) (*DPoPVerifier, error) {
	if cfg.Store == nil {
		return nil, errors.New("dpop: a store is required for proof replay detection")
	}
	algs := slices.Clone(cfg.Algorithms)
	if len(algs) == 0 {
		algs = slices.Clone(DefaultDPoPAlgorithms)
	}
	if err := checkDPoPAlgorithms(algs); err != nil {
		return nil, err
	}
	if cfg.MaxAge < 0 || cfg.Leeway < 0 {
		return nil, errors.New("dpop max age and leeway must not be negative")
	}
	if cfg.MaxAge == 0 {
		cfg.MaxAge = DefaultDPoPMaxAge
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = DefaultDPoPLeeway
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &DPoPVerifier{
		cfg:  cfg,
		algs: algs,
		// a proof is acceptable from iat-leeway until iat+max age: its
		// jti must be remembered at least that long (plus a second, as
		// iat has a resolution of one second)
		ttl:   cfg.MaxAge + cfg.Leeway + time.Second,
		chall: `algs="` + strings.Join(algs, " ") + `"`,
		keys:  jwkCache{m: make(map[[sha256.Size]byte]jwkEntry)},
	}, nil
}

// Algorithms returns the allowed proof algorithms.
func (v *DPoPVerifier) Algorithms() []string { return slices.Clone(v.algs) }

// ChallengeParams returns the algs parameter of the DPoP challenge, e.g.
// `algs="ES256 RS256 EdDSA"`.
func (v *DPoPVerifier) ChallengeParams() string { return v.chall }

// DPoPRequest is what a proof is checked against.
type DPoPRequest struct {
	// Method is the HTTP method of the request (htm).
	Method string
	// URL is the request's URI as received: scheme, host and path; a
	// query is ignored (htu).
	URL string
	// AccessToken is the token presented with the proof (ath); empty when
	// the proof is presented without a token (token requests).
	AccessToken string
	// JKT is the token's cnf.jkt: the proof key's RFC 7638 thumbprint must
	// equal it. Empty skips the binding check (token requests).
	JKT string
}

// DPoPProof is a proof that passed every check.
type DPoPProof struct {
	// JKT is the RFC 7638 SHA-256 thumbprint of the proof key, base64url.
	JKT string
	// JTI is the proof's id.
	JTI string
	// IssuedAt is the proof's iat.
	IssuedAt time.Time
}

type dpopHeader struct {
	Typ  string          `json:"typ"`
	Alg  string          `json:"alg"`
	JWK  json.RawMessage `json:"jwk"`
	Crit json.RawMessage `json:"crit"`
}

// jwkPrivate lists the JWK members that only a private or symmetric key
// has (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2).
type jwkPrivate struct {
	D   json.RawMessage `json:"d"`
	P   json.RawMessage `json:"p"`
	Q   json.RawMessage `json:"q"`
	DP  json.RawMessage `json:"dp"`
	DQ  json.RawMessage `json:"dq"`
	QI  json.RawMessage `json:"qi"`
	OTH json.RawMessage `json:"oth"`
	K   json.RawMessage `json:"k"`
}

type dpopClaims struct {
	JTI   *string  `json:"jti"`
	HTM   *string  `json:"htm"`
	HTU   *string  `json:"htu"`
	IAT   *float64 `json:"iat"`
	ATH   *string  `json:"ath"`
	Nonce *string  `json:"nonce"`
}

// SplitDPoPHeader returns the one proof of a request's DPoP header
// values: exactly one header line holding one compact JWS, at most
// MaxDPoPProofLen long. A missing header yields "" and a nil error.
func SplitDPoPHeader(values []string) (string, error) {
	switch len(values) {
	case 0:
		return "", nil
	case 1:
	default:
		return "", proofErr("exactly one DPoP header is allowed")
	}
	p := strings.TrimSpace(values[0])
	switch {
	case p == "":
		return "", proofErr("the DPoP header is empty")
	case len(p) > MaxDPoPProofLen:
		return "", proofErr("the DPoP proof is too large")
	case strings.IndexByte(p, ',') >= 0:
		return "", proofErr("exactly one DPoP proof is allowed")
	}
	return p, nil
}

// Check verifies proof (the value of the request's one DPoP header) for
// req as RFC 9449 §4.3 and §7.1 say: a compact JWS with typ dpop+jwt, an
// allowed asymmetric alg and an embedded public jwk that verifies its
// signature; htm, htu, iat, ath and (with nonces) nonce matching this
// request; the key's thumbprint equal to req.JKT; and a jti not seen
// before on any instance sharing the store. A refused proof is a
// failure.ErrInvalidDPoPProof (with a *DPoPNonceRequired cause when the
// client must retry with a nonce), a proof of another key than the
// token's a failure.ErrInvalidToken, and a store that cannot be reached
// a failure.ErrUnavailable (callers fail closed).
func (v *DPoPVerifier) Check(ctx context.Context, proof string, req DPoPRequest) (*DPoPProof, error) {
	if proof == "" {
		return nil, proofErr("a DPoP proof is required")
	}
	if len(proof) > MaxDPoPProofLen {
		return nil, proofErr("the DPoP proof is too large")
	}
	dot1 := strings.IndexByte(proof, '.')
	dot2 := strings.LastIndexByte(proof, '.')
	if dot1 <= 0 || dot2 == dot1 || strings.IndexByte(proof[dot1+1:dot2], '.') >= 0 {
		return nil, proofErr("the DPoP proof is not a compact JWS")
	}
	rawHeader, err := base64.RawURLEncoding.DecodeString(proof[:dot1])
	if err != nil {
		return nil, proofErr("the DPoP proof header is not base64url")
	}
	var hdr dpopHeader
	if err := json.Unmarshal(rawHeader, &hdr); err != nil {
		return nil, proofErr("the DPoP proof header is not a JSON object")
	}
	if hdr.Typ != DPoPType {
		return nil, proofErr(`the DPoP proof typ must be "dpop+jwt"`)
	}
	alg := hdr.Alg
	if alg == "Ed25519" && slices.Contains(v.algs, "EdDSA") {
		// RFC 9864's fully-specified name for EdDSA over Ed25519, the
		// only EdDSA curve accepted anyway (clients such as npm dpop
		// send it)
		alg = "EdDSA"
	}
	if !slices.Contains(v.algs, alg) {
		return nil, proofErr("the DPoP proof algorithm is not allowed (allowed: " + strings.Join(v.algs, " ") + ")")
	}
	if len(hdr.Crit) > 0 {
		return nil, proofErr("the DPoP proof has unsupported critical header parameters")
	}
	if len(hdr.JWK) == 0 || hdr.JWK[0] != '{' {
		return nil, proofErr("the DPoP proof has no jwk header")
	}
	pub, jkt, perr := v.keys.parse(hdr.JWK)
	if perr != nil {
		return nil, perr
	}
	if !KeyFitsAlg(pub, alg) {
		return nil, proofErr("the DPoP proof jwk does not fit its algorithm")
	}
	sig, err := base64.RawURLEncoding.DecodeString(proof[dot2+1:])
	if err != nil {
		return nil, proofErr("the DPoP proof signature is not base64url")
	}
	method := jwt.GetSigningMethod(alg)
	if method == nil {
		return nil, proofErr("the DPoP proof algorithm is not allowed")
	}
	if err := method.Verify(proof[:dot2], sig, pub); err != nil {
		return nil, failure.Wrap(failure.ErrInvalidDPoPProof, "the DPoP proof signature is invalid", err)
	}
	rawClaims, err := base64.RawURLEncoding.DecodeString(proof[dot1+1 : dot2])
	if err != nil {
		return nil, proofErr("the DPoP proof payload is not base64url")
	}
	var c dpopClaims
	if err := json.Unmarshal(rawClaims, &c); err != nil || !bytes.HasPrefix(bytes.TrimSpace(rawClaims), []byte("{")) {
		return nil, proofErr("the DPoP proof claims are malformed or of the wrong type")
	}
	if c.JTI == nil || *c.JTI == "" || len(*c.JTI) > MaxDPoPJTILen {
		return nil, proofErr("the DPoP proof needs a jti of 1 to 256 characters")
	}
	if c.HTM == nil || *c.HTM != req.Method {
		return nil, proofErr("the DPoP proof htm does not match the request method")
	}
	if c.HTU == nil {
		return nil, proofErr("the DPoP proof has no htu")
	}
	if !HTUMatches(*c.HTU, req.URL) {
		return nil, proofErr("the DPoP proof htu does not match the request URI")
	}
	now := v.cfg.Now()
	if c.IAT == nil || math.IsNaN(*c.IAT) || math.IsInf(*c.IAT, 0) {
		return nil, proofErr("the DPoP proof has no iat")
	}
	iat := time.Unix(int64(*c.IAT), 0)
	if *c.IAT > float64(now.Add(v.cfg.Leeway).Unix()) {
		return nil, proofErr("the DPoP proof was issued in the future")
	}
	if *c.IAT < float64(now.Add(-v.cfg.MaxAge).Unix()) {
		return nil, proofErr("the DPoP proof is too old")
	}
	if req.AccessToken != "" {
		if c.ATH == nil {
			return nil, proofErr("the DPoP proof has no ath")
		}
		if !athMatches(*c.ATH, req.AccessToken) {
			return nil, proofErr("the DPoP proof ath does not match the access token")
		}
	}
	if v.cfg.Nonces != nil {
		if c.Nonce == nil || *c.Nonce == "" {
			return nil, v.nonceErr(ctx, "the DPoP proof needs a nonce from the DPoP-Nonce header")
		}
		ok, err := v.cfg.Nonces.Valid(ctx, *c.Nonce)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, v.nonceErr(ctx, "the DPoP proof nonce is stale or unknown")
		}
	}
	if req.JKT != "" && subtle.ConstantTimeCompare([]byte(jkt), []byte(req.JKT)) != 1 {
		return nil, failure.New(failure.ErrInvalidToken, "the token is bound to another key than the DPoP proof's")
	}
	// last: a proof is used up only when everything else is right
	fresh, err := v.cfg.Store.SetNX(ctx, dpopJTIKey(jkt, *c.JTI), []byte("1"), v.ttl)
	if err != nil {
		return nil, errUnavailable(fmt.Errorf("dpop replay check: %w", err))
	}
	if !fresh {
		return nil, proofErr("the DPoP proof was already used")
	}
	return &DPoPProof{JKT: jkt, JTI: *c.JTI, IssuedAt: iat}, nil
}

func (v *DPoPVerifier) nonceErr(ctx context.Context, detail string) error {
	n, err := v.cfg.Nonces.Current(ctx)
	if err != nil {
		return errUnavailable(err)
	}
	return failure.Wrap(failure.ErrInvalidDPoPProof, detail, &DPoPNonceRequired{Nonce: n})
}

// dpopJTIKey is the store key of a seen proof: the jti scoped by the key
// that signed it (RFC 9449 §11.1), hashed so a client chooses neither the
// length nor the characters of a store key.
func dpopJTIKey(jkt, jti string) string {
	h := sha256.New()
	h.Write([]byte(jkt))
	h.Write([]byte{0})
	h.Write([]byte(jti))
	var sum [sha256.Size]byte
	return dpopJTIPrefix + base64.RawURLEncoding.EncodeToString(h.Sum(sum[:0]))
}

// athMatches reports whether ath is base64url(SHA-256(token)).
func athMatches(ath, token string) bool {
	sum := SHA256String(token)
	var enc [43]byte
	base64.RawURLEncoding.Encode(enc[:], sum[:])
	// compared in place, as SHA256String reads: []byte(ath) would copy it
	// to the heap
	return subtle.ConstantTimeCompare(unsafe.Slice(unsafe.StringData(ath), len(ath)), enc[:]) == 1
}

// JWKThumbprint returns the RFC 7638 SHA-256 thumbprint (base64url) of a
// public JWK given as JSON, e.g. to compute a cnf.jkt.
func JWKThumbprint(rawJWK []byte) (string, error) {
	var priv jwkPrivate
	if err := json.Unmarshal(rawJWK, &priv); err != nil {
		return "", fmt.Errorf("decoding jwk: %w", err)
	}
	if priv.D != nil || priv.K != nil || priv.P != nil {
		return "", errors.New("jwk is not a public key")
	}
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(rawJWK); err != nil {
		return "", fmt.Errorf("decoding jwk: %w", err)
	}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("jwk thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

// jwkCacheSize bounds the proof keys remembered by one verifier.
const jwkCacheSize = 4096

// jwkCache remembers parsed proof keys by the SHA-256 of their JSON: a
// client signs every proof with the same key, and parsing it (go-jose) and
// computing its thumbprint was about a third of a proof check's 107
// allocations (BenchmarkDPoPCheck, -memprofile). Only keys that passed
// every check are stored; when full it starts over, so a flood of keys
// costs at most jwkCacheSize entries.
type jwkCache struct {
	mu sync.RWMutex
	m  map[[sha256.Size]byte]jwkEntry
}

type jwkEntry struct {
	key crypto.PublicKey
	jkt string
}

// parse returns the public key of a proof's jwk header and its RFC 7638
// thumbprint.
func (c *jwkCache) parse(raw []byte) (crypto.PublicKey, string, error) {
	if len(raw) == 0 || raw[0] != '{' {
		return nil, "", proofErr("the DPoP proof has no jwk header")
	}
	sum := sha256.Sum256(raw)
	c.mu.RLock()
	e, ok := c.m[sum]
	c.mu.RUnlock()
	if ok {
		return e.key, e.jkt, nil
	}
	var priv jwkPrivate
	if err := json.Unmarshal(raw, &priv); err != nil {
		return nil, "", proofErr("the DPoP proof jwk is malformed")
	}
	if priv.D != nil || priv.P != nil || priv.Q != nil || priv.DP != nil || priv.DQ != nil ||
		priv.QI != nil || priv.OTH != nil || priv.K != nil {
		return nil, "", proofErr("the DPoP proof jwk must be a public key: it holds private or symmetric key material")
	}
	// go-jose parses the key (point on curve, sizes) and computes the
	// RFC 7638 thumbprint; the private-member check above makes its
	// UnmarshalJSON safe for client input
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(raw); err != nil || !jwk.IsPublic() {
		return nil, "", proofErr("the DPoP proof jwk is not a supported public key")
	}
	switch k := jwk.Key.(type) {
	case *rsa.PublicKey:
		if k.Size()*8 < MinRSABits {
			return nil, "", proofErr(fmt.Sprintf("the DPoP proof RSA key is shorter than %d bits", MinRSABits))
		}
	case *ecdsa.PublicKey, ed25519.PublicKey:
	default:
		return nil, "", proofErr("the DPoP proof jwk is not a supported public key")
	}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, "", proofErr("the DPoP proof jwk has no thumbprint")
	}
	e = jwkEntry{key: jwk.Key, jkt: base64.RawURLEncoding.EncodeToString(tp)}
	c.mu.Lock()
	if len(c.m) >= jwkCacheSize {
		clear(c.m)
	}
	c.m[sum] = e
	c.mu.Unlock()
	return e.key, e.jkt, nil
}
