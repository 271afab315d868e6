package authn

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// JWKS defaults.
const (
	// DefaultJWKSCooldown is the least time between two refetches that an
	// unknown kid may trigger.
	DefaultJWKSCooldown = 30 * time.Second
	// DefaultJWKSRefreshInterval is how often the key set is refreshed in
	// the background.
	DefaultJWKSRefreshInterval = 15 * time.Minute
	// MaxJWKSSize bounds the size of a JWKS document.
	MaxJWKSSize      = 1 << 20
	jwksFetchTimeout = 10 * time.Second
)

// JWK is one verification key of a key set.
type JWK struct {
	// Kid is the key id ("kid"), possibly empty.
	Kid string
	// Alg is the key's declared algorithm ("alg"), possibly empty; when
	// set, only tokens with that alg may use the key.
	Alg string
	// Key is *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey.
	Key crypto.PublicKey
}

// JWKS is a remote JSON Web Key Set, cached in memory. Keys stay cached
// while the host is unreachable. A token with a kid that is not cached
// triggers an immediate refetch, unless one happened less than Cooldown
// ago, so a rotated-in key works on its first use while a flood of bogus
// kids costs at most one fetch per cooldown.
type JWKS struct {
	url      string
	client   *http.Client
	cooldown time.Duration
	interval time.Duration
	now      func() time.Time

	mu      sync.RWMutex
	keys    []JWK
	fetched bool      // a fetch succeeded once
	lastTry time.Time // last kid-triggered fetch (the cooldown counts from it)

	fetchMu sync.Mutex // one fetch at a time

	// gen counts key-set changes that dropped or replaced a key; it is
	// bumped under mu together with the swap of keys.
	gen atomic.Uint64

	events       JWKSEvents
	host         string
	failures     int       // failed fetches in the current episode (under mu)
	failingSince time.Time // start of the current episode (under mu)

	stop     chan struct{}
	stopOnce sync.Once
	// Fetches counts completed HTTP fetches (for tests and debugging).
	fetches int
}

// JWKSOptions configure NewJWKS.
type JWKSOptions struct {
	// Cooldown between kid-triggered refetches; default DefaultJWKSCooldown.
	Cooldown time.Duration
	// RefreshInterval of background refreshes; default
	// DefaultJWKSRefreshInterval; negative disables background refresh.
	RefreshInterval time.Duration
	// AllowInsecureLoopback permits plain http when the host is a loopback
	// address (tests, local demos).
	AllowInsecureLoopback bool
	// Client is the HTTP client; default: one with a 10 s timeout that
	// follows redirects only to URLs that pass the same https rule.
	Client *http.Client
	// Events, when set, hears about fetch outcomes (logs, metrics).
	Events JWKSEvents
}

// JWKSEvents are callbacks about fetches of a key set, each optional. A
// failure episode starts with the first failed fetch after a success (or
// at start) and ends with the next successful fetch: Failing is called
// once per episode, however many requests and retries fail inside it, and
// Recovered once at its end. They are called with no lock held, from the
// goroutine that fetched.
type JWKSEvents struct {
	// Fetched is called after every completed fetch (err nil on success).
	Fetched func(err error)
	// Failing is called on the first failure of an episode; host is the
	// JWKS URL's host.
	Failing func(host string, err error)
	// Recovered is called on the first success after an episode, with the
	// number of failed fetches and when the episode began.
	Recovered func(host string, failures int, since time.Time)
}

// CheckJWKSURL reports whether u may be used as a JWKS URL: https, or
// http to a loopback host when allowInsecureLoopback is set.
func CheckJWKSURL(u string, allowInsecureLoopback bool) error {
	p, err := url.Parse(u)
	if err != nil {
		return fmt.Errorf("jwks_url is not a valid URL: %w", err)
	}
	if p.Host == "" {
		return fmt.Errorf("jwks_url %q has no host", u)
	}
	switch p.Scheme {
	case "https":
		return nil
	case "http":
		if !allowInsecureLoopback {
			return fmt.Errorf("jwks_url %q is plain http: use https (or, for a loopback host only, add jwks_allow_insecure_loopback)", u)
		}
		if !isLoopbackHost(p.Hostname()) {
			return fmt.Errorf("jwks_url %q is plain http to a non-loopback host: use https", u)
		}
		return nil
	default:
		return fmt.Errorf("jwks_url %q: scheme must be https", u)
	}
}

func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// NewJWKS returns a key set fetched from rawURL. It starts a background
// refresher (fetching at once, retrying with backoff until a fetch
// succeeds); call Stop to end it.
func NewJWKS(rawURL string, opts JWKSOptions) (*JWKS, error) {
	if err := CheckJWKSURL(rawURL, opts.AllowInsecureLoopback); err != nil {
		return nil, err
	}
	j := &JWKS{
		url:      rawURL,
		client:   opts.Client,
		cooldown: opts.Cooldown,
		interval: opts.RefreshInterval,
		now:      time.Now,
		stop:     make(chan struct{}),
		events:   opts.Events,
	}
	if u, err := url.Parse(rawURL); err == nil {
		j.host = u.Host
	}
	if j.cooldown <= 0 {
		j.cooldown = DefaultJWKSCooldown
	}
	if j.interval == 0 {
		j.interval = DefaultJWKSRefreshInterval
	}
	if j.client == nil {
		allow := opts.AllowInsecureLoopback
		j.client = &http.Client{
			Timeout: jwksFetchTimeout,
			CheckRedirect: func(req *http.Request, via []*http.Request) error {
				if len(via) >= 3 {
					return errors.New("too many redirects")
				}
				return CheckJWKSURL(req.URL.String(), allow)
			},
		}
	}
	if j.interval > 0 {
		go j.refresher()
	}
	return j, nil
}

// Stop ends the background refresher.
func (j *JWKS) Stop() { j.stopOnce.Do(func() { close(j.stop) }) }

func (j *JWKS) refresher() {
	backoff := time.Second
	for {
		var wait time.Duration
		if err := j.refresh(false); err != nil {
			wait = backoff
			backoff *= 2
			if backoff > j.interval {
				backoff = j.interval
			}
		} else {
			wait = j.interval
			backoff = time.Second
		}
		t := time.NewTimer(wait)
		select {
		case <-j.stop:
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// Fetches returns how many fetches completed (successful or not).
func (j *JWKS) Fetches() int {
	j.mu.RLock()
	defer j.mu.RUnlock()
	return j.fetches
}

// Generation returns a number that changes whenever a refresh drops or
// replaces a key (a key that only appears does not change it). A result
// derived from the keys seen under one generation, such as a verified
// token, must not be trusted under another. Read it before the keys: a
// key swap bumps it in the same critical section.
func (j *JWKS) Generation() uint64 { return j.gen.Load() }

// Keys returns the cached keys matching kid (all keys when kid is empty).
// If none are cached, it refetches first unless the last such
// (kid-triggered) fetch was less than the cooldown ago.
func (j *JWKS) Keys(kid string) []JWK {
	keys, found := j.cached(kid)
	if found {
		return keys
	}
	j.fetchMu.Lock()
	// another request may have fetched meanwhile
	keys, found = j.cached(kid)
	if found {
		j.fetchMu.Unlock()
		return keys
	}
	j.mu.RLock()
	allowed := j.now().Sub(j.lastTry) >= j.cooldown
	j.mu.RUnlock()
	j.fetchMu.Unlock()
	if !allowed {
		return nil
	}
	_ = j.refresh(true)
	keys, _ = j.cached(kid)
	return keys
}

func (j *JWKS) cached(kid string) ([]JWK, bool) {
	j.mu.RLock()
	defer j.mu.RUnlock()
	if kid == "" {
		return j.keys, len(j.keys) > 0
	}
	for i := range j.keys {
		if j.keys[i].Kid == kid {
			return j.keys[i : i+1 : i+1], true
		}
	}
	return nil, false
}

// refresh fetches the key set. Fetches run one at a time. A failed fetch
// keeps the cached keys. onDemand marks a kid-triggered fetch: only those
// count for the cooldown, which exists to bound what clients can trigger;
// scheduled refreshes do not delay a rotated-in key's first use.
func (j *JWKS) refresh(onDemand bool) error {
	j.fetchMu.Lock()
	defer j.fetchMu.Unlock()
	if onDemand {
		j.mu.Lock()
		if j.now().Sub(j.lastTry) < j.cooldown {
			j.mu.Unlock()
			return nil // someone refetched while we waited
		}
		j.lastTry = j.now()
		j.mu.Unlock()
	}
	keys, err := j.fetch()
	j.mu.Lock()
	j.fetches++
	failures, since := j.failures, j.failingSince
	if err != nil {
		if j.failures == 0 {
			j.failingSince = j.now()
		}
		j.failures++
	} else {
		if dropsKey(j.keys, keys) {
			j.gen.Add(1)
		}
		j.keys = keys
		j.fetched = true
		j.failures = 0
	}
	j.mu.Unlock()
	// fetchMu is still held: events of one key set are never reordered
	ev := j.events
	if ev.Fetched != nil {
		ev.Fetched(err)
	}
	switch {
	case err != nil && failures == 0 && ev.Failing != nil:
		ev.Failing(j.host, err)
	case err == nil && failures > 0 && ev.Recovered != nil:
		ev.Recovered(j.host, failures, since)
	}
	return err
}

// dropsKey reports whether some key of old (same kid, alg and public key)
// is missing from cur.
func dropsKey(old, cur []JWK) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	for _, o := range old {
		found := false
		for _, c := range cur {
			if c.Kid != o.Kid || c.Alg != o.Alg {
				continue
			}
			if e, ok := c.Key.(equaler); ok && e.Equal(o.Key) {
				found = true
				break
			}
		}
		if !found {
			return true
		}
	}
	return false
}

func (j *JWKS) fetch() ([]JWK, error) {
	ctx, cancel := context.WithTimeout(context.Background(), jwksFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.url, nil)
	if err != nil {
		return nil, fmt.Errorf("jwks request: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := j.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching jwks: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching jwks: status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxJWKSSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading jwks: %w", err)
	}
	if len(body) > MaxJWKSSize {
		return nil, fmt.Errorf("jwks larger than %d bytes", MaxJWKSSize)
	}
	return ParseJWKS(body)
}

// ParseJWKS decodes a JWK Set. Keys that are not signature keys, or of an
// unsupported type, are skipped; it fails only on malformed JSON or when no
// usable key remains.
func ParseJWKS(data []byte) ([]JWK, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("decoding jwks: %w", err)
	}
	out := make([]JWK, 0, len(set.Keys))
	var firstErr error
	for _, raw := range set.Keys {
		k, err := ParseJWK(raw)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if k.Key != nil {
			out = append(out, k)
		}
	}
	if len(out) == 0 {
		if firstErr != nil {
			return nil, fmt.Errorf("jwks has no usable key: %w", firstErr)
		}
		return nil, errors.New("jwks has no usable key")
	}
	return out, nil
}

// ParseJWK decodes one public JWK (RSA, EC P-256/384/521, OKP Ed25519).
// A key with "use" other than "sig" yields a JWK with a nil Key. Private
// key members are ignored; x5u/x5c/jku are never fetched or trusted.
func ParseJWK(raw []byte) (JWK, error) {
	var k struct {
		Kty string `json:"kty"`
		Kid string `json:"kid"`
		Use string `json:"use"`
		Alg string `json:"alg"`
		N   string `json:"n"`
		E   string `json:"e"`
		Crv string `json:"crv"`
		X   string `json:"x"`
		Y   string `json:"y"`
	}
	if err := json.Unmarshal(raw, &k); err != nil {
		return JWK{}, fmt.Errorf("decoding jwk: %w", err)
	}
	out := JWK{Kid: k.Kid, Alg: k.Alg}
	if k.Use != "" && k.Use != "sig" {
		return out, nil
	}
	switch k.Kty {
	case "RSA":
		n, err := b64int(k.N)
		if err != nil {
			return out, fmt.Errorf("jwk %q: n: %w", k.Kid, err)
		}
		e, err := b64int(k.E)
		if err != nil {
			return out, fmt.Errorf("jwk %q: e: %w", k.Kid, err)
		}
		if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 || e.Bit(0) == 0 {
			return out, fmt.Errorf("jwk %q: unsupported RSA exponent", k.Kid)
		}
		pub := &rsa.PublicKey{N: n, E: int(e.Int64())}
		if pub.Size()*8 < MinRSABits {
			return out, fmt.Errorf("jwk %q: RSA key shorter than %d bits", k.Kid, MinRSABits)
		}
		out.Key = pub
	case "EC":
		var curve elliptic.Curve
		switch k.Crv {
		case "P-256":
			curve = elliptic.P256()
		case "P-384":
			curve = elliptic.P384()
		case "P-521":
			curve = elliptic.P521()
		default:
			return out, fmt.Errorf("jwk %q: unsupported curve %q", k.Kid, k.Crv)
		}
		x, err := b64bytes(k.X)
		if err != nil {
			return out, fmt.Errorf("jwk %q: x: %w", k.Kid, err)
		}
		y, err := b64bytes(k.Y)
		if err != nil {
			return out, fmt.Errorf("jwk %q: y: %w", k.Kid, err)
		}
		size := (curve.Params().BitSize + 7) / 8
		if len(x) != size || len(y) != size {
			return out, fmt.Errorf("jwk %q: bad coordinate length", k.Kid)
		}
		uncompressed := make([]byte, 0, 1+2*size)
		uncompressed = append(uncompressed, 4)
		uncompressed = append(uncompressed, x...)
		uncompressed = append(uncompressed, y...)
		pub, err := ecdsa.ParseUncompressedPublicKey(curve, uncompressed)
		if err != nil {
			return out, fmt.Errorf("jwk %q: %w", k.Kid, err)
		}
		out.Key = pub
	case "OKP":
		if k.Crv != "Ed25519" {
			return out, fmt.Errorf("jwk %q: unsupported OKP curve %q", k.Kid, k.Crv)
		}
		x, err := b64bytes(k.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return out, fmt.Errorf("jwk %q: bad Ed25519 key", k.Kid)
		}
		out.Key = ed25519.PublicKey(x)
	default:
		// symmetric ("oct") and unknown key types are never accepted from
		// a remote key set
		return out, nil
	}
	return out, nil
}

func b64bytes(s string) ([]byte, error) {
	if s == "" {
		return nil, errors.New("missing")
	}
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

func b64int(s string) (*big.Int, error) {
	b, err := b64bytes(s)
	if err != nil {
		return nil, err
	}
	return new(big.Int).SetBytes(b), nil
}
