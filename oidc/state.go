package oidc

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"golang.org/x/oauth2"

	"github.com/apigw/caddy-apigw/failure"
	"github.com/apigw/caddy-apigw/store"
)

// Store key namespaces.
const (
	statePrefix   = "oidcstate:" // oidcstate:<hash(state)> → LoginState
	usedPrefix    = "oidcused:"  // oidcused:<hash(state)> → single-use marker
	idTokenPrefix = "oidcidt:"   // oidcidt:<session handle> → raw ID token
)

// DefaultStateTTL is how long a started login may take.
const DefaultStateTTL = 10 * time.Minute

// ErrStateInvalid is returned by Consume for an unknown, expired, already
// used or foreign (other browser) state; it is a failure.ErrInvalidCredentials.
// Callers answer 401 invalid_credentials and do not tell the cases apart.
var ErrStateInvalid error = failure.New(failure.ErrInvalidCredentials, "invalid login state")

// storeDown wraps a store failure as failure.ErrUnavailable with the
// detail clients see.
func storeDown(err error) error {
	return failure.Wrap(failure.ErrUnavailable, "the session store is unavailable", err)
}

// LoginState is what the gateway remembers, server-side, between
// /auth/login and /auth/callback.
type LoginState struct {
	// Nonce is the ID token's expected nonce.
	Nonce string `json:"n"`
	// Verifier is the PKCE code verifier (S256 challenge sent).
	Verifier string `json:"v"`
	// ReturnTo is the checked same-origin path to go to after login.
	ReturnTo string `json:"r"`
	// Binding is the SHA-256 (hex) of the browser's login-state cookie.
	Binding string `json:"b"`
}

// States keeps login states in a store.Store: shared by every instance,
// so a state is single use across all of them. Each instance keeps at
// most maxPending of the states it began outstanding (see pending).
type States struct {
	st      store.Store
	ttl     time.Duration
	pending pending
	now     func() time.Time
}

// NewStates returns a state keeper over st; ttl <= 0 means
// DefaultStateTTL, maxPending <= 0 DefaultMaxPendingLogins.
func NewStates(st store.Store, ttl time.Duration, maxPending int) *States {
	if ttl <= 0 {
		ttl = DefaultStateTTL
	}
	if maxPending <= 0 {
		maxPending = DefaultMaxPendingLogins
	}
	return &States{st: st, ttl: ttl, pending: pending{max: maxPending}, now: time.Now}
}

// Pending returns how many logins this instance has begun that are
// neither finished nor expired.
func (s *States) Pending() int { return s.pending.count(s.now().UnixNano()) }

// TTL returns how long a login state lives.
func (s *States) TTL() time.Duration { return s.ttl }

// RandomToken returns 32 random bytes, base64url without padding.
func RandomToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("oidc: reading random bytes: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// WellFormedToken reports whether v has the shape of a RandomToken.
func WellFormedToken(v string) bool {
	if len(v) != 43 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func hashHex(v string) string {
	sum := sha256.Sum256([]byte(v))
	return hex.EncodeToString(sum[:])
}

// Begin starts a login: it returns a fresh state, a fresh value for the
// browser's login-state cookie (set it as the cookie) and the state kept
// for it. The cookie is new on every login, never the one the browser
// sent: a login-state cookie planted in the victim's browser (over plain
// HTTP, or from a sibling subdomain) must not become the binding of the
// victim's login (login CSRF, or a takeover when the callback URL
// leaks). The price: of two logins started at once in one browser, only
// the later one can finish.
//
// Errors wrap failure.ErrUnavailable: the store failed, or (cause
// *PendingFullError) too many logins are in progress on this instance.
func (s *States) Begin(ctx context.Context, returnTo string) (state, cookie string, ls LoginState, err error) {
	if cookie, err = RandomToken(); err != nil {
		return "", "", ls, err
	}
	if state, err = RandomToken(); err != nil {
		return "", "", ls, err
	}
	if ls.Nonce, err = RandomToken(); err != nil {
		return "", "", ls, err
	}
	ls.Verifier = oauth2.GenerateVerifier()
	ls.ReturnTo = returnTo
	ls.Binding = hashHex(cookie)
	h := hashHex(state)
	now := s.now()
	if wait, ok := s.pending.add(h, now.UnixNano(), now.Add(s.ttl).UnixNano()); !ok {
		return "", "", ls, failure.Wrap(failure.ErrUnavailable,
			"too many logins are in progress: try again later", &PendingFullError{RetryAfter: wait})
	}
	b, _ := json.Marshal(ls)
	if err := s.st.Set(ctx, statePrefix+h, b, s.ttl); err != nil {
		s.pending.done(h)
		return "", "", ls, storeDown(fmt.Errorf("oidc: saving login state: %w", err))
	}
	return state, cookie, ls, nil
}

// Consume returns the login state of state if browser (the login-state
// cookie's value) is the browser that started it, and makes sure it is
// used only once on every instance sharing the store. A foreign browser
// does not use the state up, so it cannot spoil the real user's login.
// Store failures wrap failure.ErrUnavailable (not ErrStateInvalid).
func (s *States) Consume(ctx context.Context, state, browser string) (LoginState, error) {
	var ls LoginState
	if !WellFormedToken(state) || !WellFormedToken(browser) {
		return ls, ErrStateInvalid
	}
	h := hashHex(state)
	b, err := s.st.Get(ctx, statePrefix+h)
	if errors.Is(err, store.ErrNotFound) {
		return ls, ErrStateInvalid
	}
	if err != nil {
		return ls, storeDown(fmt.Errorf("oidc: reading login state: %w", err))
	}
	if json.Unmarshal(b, &ls) != nil {
		return LoginState{}, ErrStateInvalid
	}
	if subtle.ConstantTimeCompare([]byte(ls.Binding), []byte(hashHex(browser))) != 1 {
		return LoginState{}, ErrStateInvalid
	}
	first, err := s.st.SetNX(ctx, usedPrefix+h, []byte{1}, s.ttl)
	if err != nil {
		return LoginState{}, storeDown(fmt.Errorf("oidc: marking login state used: %w", err))
	}
	s.pending.done(h)
	if !first {
		return LoginState{}, ErrStateInvalid
	}
	_ = s.st.Delete(ctx, statePrefix+h) // the marker already makes it single use
	return ls, nil
}

// SaveIDToken keeps a session's raw ID token (for RP-initiated logout's
// id_token_hint) server-side, under the session's handle, for ttl.
func SaveIDToken(ctx context.Context, st store.Store, handle, idToken string, ttl time.Duration) error {
	if err := st.Set(ctx, idTokenPrefix+handle, []byte(idToken), ttl); err != nil {
		return fmt.Errorf("oidc: saving ID token: %w", err)
	}
	return nil
}

// TakeIDToken returns and forgets the ID token kept for a session handle
// ("" when there is none).
func TakeIDToken(ctx context.Context, st store.Store, handle string) (string, error) {
	b, err := st.Get(ctx, idTokenPrefix+handle)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("oidc: reading ID token: %w", err)
	}
	_ = st.Delete(ctx, idTokenPrefix+handle)
	return string(b), nil
}
