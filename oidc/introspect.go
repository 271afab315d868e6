package oidc

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/apigw/caddy-apigw/failure"
)

// Introspection defaults.
const (
	DefaultIntrospectionTTL      = time.Minute
	DefaultIntrospectionNegTTL   = 5 * time.Second
	DefaultIntrospectionCacheMax = 10000
	DefaultIntrospectionMaxBody  = 64 << 10
	// MaxTokenLen bounds a token sent for introspection; longer ones are
	// refused without a call.
	MaxTokenLen = 4096
)

// Result is an RFC 7662 introspection answer, reduced to what the gateway
// uses. It is shared by every request that hits the cache: read only.
type Result struct {
	// Active is the token's active member.
	Active bool
	// Sub, ClientID, Username, TokenType are the members of those names.
	Sub, ClientID, Username, TokenType string
	// Scope is the space-separated scope member; Scopes the same split.
	Scope  string
	Scopes []string
	// Exp is the token's expiry (zero when absent).
	Exp time.Time
	// CnfJKT and CnfX5T are the confirmation members (RFC 9449 jkt,
	// RFC 8705 x5t#S256): a token that has one is sender-constrained and
	// must not be accepted as a plain Bearer token.
	CnfJKT, CnfX5T string
	// CnfUnknown is true when the answer has a cnf the gateway cannot
	// check (another confirmation method such as jwk or kid, or no
	// member at all, RFC 7800): the token is sender-constrained too.
	CnfUnknown bool
}

// Bound reports whether the token is sender-constrained (has a cnf).
func (r *Result) Bound() bool { return r.CnfJKT != "" || r.CnfX5T != "" || r.CnfUnknown }

// Introspector checks opaque tokens at an RFC 7662 endpoint with
// client_secret_basic authentication. Answers are cached, keyed by the
// SHA-256 of the token (the token itself is never kept): active ones until
// min(exp, TTL), inactive ones for NegTTL. Concurrent requests for one
// token that miss the cache share one call.
type Introspector struct {
	// Endpoint returns the introspection endpoint URL (e.g. from
	// discovery); an error means the issuer is unavailable.
	Endpoint func(ctx context.Context) (string, error)
	// ClientID and ClientSecret authenticate the gateway.
	ClientID, ClientSecret string
	// Client makes the calls.
	Client *http.Client
	// TTL caps how long an active answer is reused.
	TTL time.Duration
	// NegTTL is how long an inactive answer is reused.
	NegTTL time.Duration
	// MaxEntries bounds the cache.
	MaxEntries int
	// MaxBody caps the answer's size.
	MaxBody int64
	// Timeout bounds one call.
	Timeout time.Duration
	// IssuerLabel names the issuer in the details of failures.
	IssuerLabel string
	// Called, when set, is told the outcome of every call made to the
	// issuer (not of cache hits): "active", "inactive" or "error".
	Called func(result string)

	// The cache is a map under an RWMutex rather than a library cache:
	// a hit is one SHA-256, one read lock and one map lookup with a
	// [32]byte key — 0 allocations (see BenchmarkIntrospectCacheHit).
	mu    sync.RWMutex
	cache map[[sha256.Size]byte]cacheEntry
	sf    singleflight.Group
	calls atomic.Int64
	now   func() time.Time
}

type cacheEntry struct {
	res     *Result
	expires int64 // unix nanoseconds
}

// inactive is the shared answer for inactive tokens.
var inactive = &Result{}

// Calls returns how many calls were made to the endpoint.
func (in *Introspector) Calls() int64 { return in.calls.Load() }

func (in *Introspector) clock() time.Time {
	if in.now != nil {
		return in.now()
	}
	return time.Now()
}

// Introspect returns the answer for token: from the cache, or from one
// call shared by concurrent callers. An inactive or unusable token gives
// a Result with Active false and a nil error; a failure.ErrUnavailable
// means no answer could be had (the issuer is unreachable, answered with
// an error status, or sent a body that is too large or not the RFC 7662
// JSON object; nothing was cached).
func (in *Introspector) Introspect(ctx context.Context, token string) (*Result, error) {
	if token == "" || len(token) > MaxTokenLen {
		return inactive, nil
	}
	// []byte(token) would allocate for tokens over 32 bytes; a stack
	// buffer (tokens are at most MaxTokenLen) keeps the hit at 0 allocs
	var buf [MaxTokenLen]byte
	key := sha256.Sum256(buf[:copy(buf[:], token)])
	now := in.clock().UnixNano()
	in.mu.RLock()
	e, ok := in.cache[key]
	in.mu.RUnlock()
	if ok && now < e.expires {
		return e.res, nil
	}
	return in.miss(ctx, key, token)
}

// miss makes (or joins) the call for a token not in the cache. It is a
// separate function so that the closure's captures do not make the hit
// path allocate.
func (in *Introspector) miss(ctx context.Context, key [sha256.Size]byte, token string) (*Result, error) {
	v, err, _ := in.sf.Do(string(key[:]), func() (any, error) {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), in.timeout())
		defer cancel()
		res, err := in.call(cctx, token)
		if in.Called != nil {
			switch {
			case err != nil:
				in.Called("error")
			case res.Active:
				in.Called("active")
			default:
				in.Called("inactive")
			}
		}
		if err != nil {
			return nil, err
		}
		in.store(key, res)
		return res, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*Result), nil
}

func (in *Introspector) timeout() time.Duration {
	if in.Timeout > 0 {
		return in.Timeout
	}
	return DefaultTimeout
}

func (in *Introspector) store(key [sha256.Size]byte, res *Result) {
	now := in.clock()
	var until time.Time
	if res.Active {
		ttl := in.TTL
		if ttl <= 0 {
			ttl = DefaultIntrospectionTTL
		}
		until = now.Add(ttl)
		if !res.Exp.IsZero() && res.Exp.Before(until) {
			until = res.Exp
		}
	} else {
		neg := in.NegTTL
		if neg <= 0 {
			neg = DefaultIntrospectionNegTTL
		}
		until = now.Add(neg)
	}
	if !until.After(now) {
		return
	}
	max := in.MaxEntries
	if max <= 0 {
		max = DefaultIntrospectionCacheMax
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.cache == nil {
		in.cache = make(map[[sha256.Size]byte]cacheEntry)
	}
	if len(in.cache) >= max {
		n := now.UnixNano()
		for k, e := range in.cache {
			if n >= e.expires {
				delete(in.cache, k)
			}
		}
		// still full: drop arbitrary entries (map order is random) until
		// a tenth is free, so a flood of distinct tokens stays bounded
		for k := range in.cache {
			if len(in.cache) < max-max/10 {
				break
			}
			delete(in.cache, k)
		}
	}
	in.cache[key] = cacheEntry{res: res, expires: until.UnixNano()}
}

// wire is the RFC 7662 answer as sent.
type wire struct {
	Active    *bool                      `json:"active"`
	Scope     json.RawMessage            `json:"scope"`
	ClientID  string                     `json:"client_id"`
	Username  string                     `json:"username"`
	TokenType string                     `json:"token_type"`
	Exp       json.Number                `json:"exp"`
	Sub       string                     `json:"sub"`
	Cnf       map[string]json.RawMessage `json:"cnf"`
}

// unavailable is the failure for an answer that could not be had; the
// detail names the issuer and never holds the token or the secret.
func (in *Introspector) unavailable(detail string, err error) error {
	if in.IssuerLabel != "" {
		detail += " (OpenID provider " + in.IssuerLabel + ")"
	}
	return failure.Wrap(failure.ErrUnavailable, detail, err)
}

func (in *Introspector) call(ctx context.Context, token string) (*Result, error) {
	endpoint, err := in.Endpoint(ctx)
	if errors.Is(err, failure.ErrUnavailable) {
		return nil, err // the issuer is down: its own detail
	}
	if err != nil {
		return nil, in.unavailable("the introspection endpoint is unknown (issuer unreachable)", err)
	}
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, in.unavailable("the introspection endpoint URL is invalid", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	// RFC 6749 §2.3.1: client_secret_basic form-encodes id and secret
	req.SetBasicAuth(url.QueryEscape(in.ClientID), url.QueryEscape(in.ClientSecret))
	in.calls.Add(1)
	client := in.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, in.unavailable("the introspection endpoint is unreachable", errors.Unwrap(err))
	}
	defer resp.Body.Close()
	max := in.MaxBody
	if max <= 0 {
		max = DefaultIntrospectionMaxBody
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, in.unavailable("the introspection answer could not be read", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, in.unavailable(fmt.Sprintf("the introspection endpoint answered %d", resp.StatusCode), errors.New(resp.Status))
	}
	if int64(len(body)) > max {
		return nil, in.unavailable(fmt.Sprintf("the introspection answer is larger than %d bytes", max), errors.New("answer too large"))
	}
	var w wire
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	if err := dec.Decode(&w); err != nil {
		return nil, in.unavailable("the introspection answer is not a JSON object", err)
	}
	if w.Active == nil {
		return nil, in.unavailable("the introspection answer has no boolean active member", errors.New("no active"))
	}
	if !*w.Active {
		return inactive, nil
	}
	if !accessTokenType(w.TokenType) {
		// a refresh token is introspected as active too (oidc-provider
		// then sends no token_type): it must not open the API
		return inactive, nil
	}
	res := &Result{Active: true, Sub: w.Sub, ClientID: w.ClientID, Username: w.Username, TokenType: w.TokenType}
	if len(w.Scope) > 0 && string(w.Scope) != "null" {
		if json.Unmarshal(w.Scope, &res.Scope) != nil {
			return nil, in.unavailable("the introspection answer's scope is not a string", errors.New("bad scope"))
		}
		res.Scopes = strings.Fields(res.Scope)
	}
	if w.Exp != "" {
		f, err := w.Exp.Float64()
		if err != nil {
			return nil, in.unavailable("the introspection answer's exp is not a number", err)
		}
		res.Exp = time.Unix(int64(f), 0)
		if !res.Exp.After(in.clock()) {
			return inactive, nil
		}
	}
	if w.Cnf != nil {
		// any cnf binds the token: one whose method the gateway cannot
		// check (jwk, kid, an empty object) must not pass as Bearer
		str := func(name string) (string, bool) {
			raw, ok := w.Cnf[name]
			if !ok {
				return "", true
			}
			var v string
			return v, json.Unmarshal(raw, &v) == nil
		}
		jkt, ok1 := str("jkt")
		x5t, ok2 := str("x5t#S256")
		if !ok1 || !ok2 {
			return nil, in.unavailable("the introspection answer's cnf members are not strings", errors.New("bad cnf"))
		}
		res.CnfJKT, res.CnfX5T = jkt, x5t
		res.CnfUnknown = jkt == "" && x5t == ""
	}
	return res, nil
}

// accessTokenType reports whether an introspection answer's token_type
// names an access token. It is required: issuers answer active for
// refresh tokens too, which carry no token_type (oidc-provider) or one
// such as "refresh_token" (RFC 8693 §3 names, Hydra, Keycloak).
func accessTokenType(t string) bool {
	switch strings.ToLower(t) {
	case "bearer", "dpop", "access_token", "urn:ietf:params:oauth:token-type:access_token":
		return true
	}
	return false
}
