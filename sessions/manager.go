// Package sessions holds caddy-apigw's browser-facing security logic
// without Caddy: server-side sessions over a store.Store, the login
// credential check and CSRF defence.
//
// A session is identified by a random 256-bit token that only the client
// holds (in an HttpOnly cookie). The store keeps the session under its
// handle, the first 128 bits of SHA-256(token) in hex: a dump of the store
// (or an admin listing) never reveals a usable token. There is no local
// cache: every lookup reads the shared store, so ending a session on one
// instance is effective on every instance sharing it at once (the only
// thing remembered is the decoding of the bytes read, reused while the
// store returns the very same bytes: see decodeMemo).
package sessions

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/apigw/caddy-apigw/failure"
	"github.com/apigw/caddy-apigw/store"
)

// Store key namespaces.
const (
	keyPrefix       = "sess:"     // sess:<handle> → encoded session
	tombstonePrefix = "sessend:"  // sessend:<handle> → ended marker
	userIndexPrefix = "sessuser:" // sessuser:<user> → handles by creation time
)

// ErrInvalid is returned by Lookup for a token that is malformed, unknown,
// ended, idle for too long or past its lifetime: a
// failure.ErrInvalidSession (401 invalid_session); the reason is
// deliberately not distinguished.
var ErrInvalid error = failure.New(failure.ErrInvalidSession, "the session is invalid, ended or expired")

// storeFailure is a store error while serving a session: a
// failure.ErrUnavailable whose cause keeps the store's error (and
// failure.ErrUnavailable for an outage).
func storeFailure(what string, err error) error {
	return failure.Wrap(failure.ErrUnavailable, "the session store is unavailable", fmt.Errorf("sessions: %s: %w", what, err))
}

// Info describes a session for listings. It never holds the token.
type Info struct {
	// ID is the session's handle: hex of SHA-256(token), truncated to 32
	// hex characters. It can end the session (admin API) but not use it.
	ID string `json:"id"`
	// User is the user the session belongs to.
	User string `json:"user"`
	// Created is when the session was created (login).
	Created time.Time `json:"created"`
	// LastSeen is when the session was last used (see Config.IdleTimeout
	// for its granularity).
	LastSeen time.Time `json:"last_seen"`
}

// Session is a live session.
type Session struct {
	Info
	// Meta is the metadata given at creation (may be nil).
	Meta map[string]string `json:"meta,omitempty"`
	// Expires is the absolute end of the session (Created + Lifetime).
	Expires time.Time `json:"expires"`

	// memo is the decoding this session came from (Lookup), which
	// builds its Identity once; nil for a session made otherwise.
	memo *decodedSession
}

// Manager creates, looks up and ends sessions in a store.Store.
type Manager struct {
	store      store.Store
	cfg        Config
	touchEvery time.Duration
	memo       *decodeMemo
}

// NewManager returns a Manager over s; cfg's zero fields get defaults.
func NewManager(s store.Store, cfg Config) *Manager {
	cfg = cfg.WithDefaults()
	touch := cfg.IdleTimeout / 20
	if touch > time.Minute {
		touch = time.Minute
	}
	return &Manager{store: s, cfg: cfg, touchEvery: touch, memo: newDecodeMemo()}
}

// Config returns the manager's effective configuration.
func (m *Manager) Config() Config { return m.cfg }

// Create starts a session for user and returns its token (for the cookie;
// the store never holds it) and its Info. If the user has MaxPerUser live
// sessions already, the oldest ones end.
func (m *Manager) Create(ctx context.Context, user string, meta map[string]string) (string, Info, error) {
	if user == "" {
		return "", Info{}, errors.New("sessions: empty user")
	}
	token, err := NewToken()
	if err != nil {
		return "", Info{}, err
	}
	now := m.cfg.now()
	s := Session{
		Info:    Info{ID: Handle(token), User: user, Created: now, LastSeen: now},
		Meta:    meta,
		Expires: now.Add(m.cfg.Lifetime),
	}
	if err := m.store.Set(ctx, keyPrefix+s.ID, encode(&s), m.ttl(now, s.Expires)); err != nil {
		return "", Info{}, storeFailure("saving session", err)
	}
	if err := m.store.IndexAdd(ctx, userIndexPrefix+user, s.ID, now.UnixNano(), m.cfg.Lifetime); err != nil {
		_ = m.store.Delete(ctx, keyPrefix+s.ID)
		return "", Info{}, storeFailure("indexing session", err)
	}
	if err := m.enforceCap(ctx, user); err != nil {
		return "", Info{}, err
	}
	return token, s.Info, nil
}

// enforceCap drops index entries of sessions that expired and ends the
// oldest live sessions beyond MaxPerUser.
func (m *Manager) enforceCap(ctx context.Context, user string) error {
	members, err := m.store.IndexMembers(ctx, userIndexPrefix+user)
	if err != nil {
		return storeFailure("reading user index", err)
	}
	if len(members) <= m.cfg.MaxPerUser {
		return nil
	}
	live := members[:0:0]
	var dead []string
	for _, id := range members {
		if _, err := m.store.Get(ctx, keyPrefix+id); errors.Is(err, store.ErrNotFound) {
			dead = append(dead, id)
		} else if err != nil {
			return storeFailure("reading session", err)
		} else {
			live = append(live, id)
		}
	}
	if len(dead) > 0 {
		if err := m.store.IndexRemove(ctx, userIndexPrefix+user, dead...); err != nil {
			return storeFailure("cleaning user index", err)
		}
	}
	// members are in ascending creation order: the oldest come first.
	for len(live) > m.cfg.MaxPerUser {
		if err := m.end(ctx, live[0], user); err != nil {
			return err
		}
		live = live[1:]
	}
	return nil
}

// ttl is the store TTL of a session touched at now: until the idle
// timeout or the absolute end, whichever comes first.
func (m *Manager) ttl(now, expires time.Time) time.Duration {
	ttl := m.cfg.IdleTimeout
	if rem := expires.Sub(now); rem < ttl {
		ttl = rem
	}
	return ttl
}

// Lookup returns the live session of token, or ErrInvalid. It enforces the
// idle timeout and the lifetime and records the use (last seen). Other
// errors are store failures (wrapping failure.ErrUnavailable).
func (m *Manager) Lookup(ctx context.Context, token string) (Session, error) {
	if !WellFormed(token) {
		return Session{}, ErrInvalid
	}
	var kb [len(keyPrefix) + 32]byte
	key := appendHandleKey(kb[:0], keyPrefix, token)
	prev := m.memo.get(key)
	keyStr := ""
	if prev != nil {
		keyStr = prev.key // no string to build
	} else {
		keyStr = string(key)
	}
	raw, err := m.store.Get(ctx, keyStr)
	if errors.Is(err, store.ErrNotFound) {
		return Session{}, ErrInvalid
	}
	if err != nil {
		return Session{}, storeFailure("reading session", err)
	}
	now := m.cfg.now()
	s, ok := m.memo.decode(prev, keyStr, raw, now)
	if !ok {
		return Session{}, ErrInvalid
	}
	if !now.Before(s.Expires) || now.Sub(s.LastSeen) >= m.cfg.IdleTimeout {
		_ = m.store.Delete(ctx, keyPrefix+s.ID)
		return Session{}, ErrInvalid
	}
	if now.Sub(s.LastSeen) >= m.touchEvery {
		if err := m.touch(ctx, &s, now); err != nil {
			return Session{}, err
		}
	}
	return s, nil
}

// touch records a use of s at now and extends its store TTL. An End that
// races with it must not be undone: End writes a tombstone before deleting,
// and touch checks for the tombstone after writing, deleting its own write
// if the session ended meanwhile.
func (m *Manager) touch(ctx context.Context, s *Session, now time.Time) error {
	s.LastSeen = now
	key := keyPrefix + s.ID
	raw := encode(s)
	if err := m.store.Set(ctx, key, raw, m.ttl(now, s.Expires)); err != nil {
		return storeFailure("touching session", err)
	}
	_, err := m.store.Get(ctx, tombstonePrefix+s.ID)
	switch {
	case err == nil:
		_ = m.store.Delete(ctx, key)
		return ErrInvalid
	case errors.Is(err, store.ErrNotFound):
		m.memo.touched(s, raw)
		return nil
	default:
		return storeFailure("checking session end", err)
	}
}

// List returns the live sessions of user, oldest first, or of every user
// if user is "" (an admin listing that scans the store).
func (m *Manager) List(ctx context.Context, user string) ([]Info, error) {
	var ids []string
	if user == "" {
		keys, err := m.store.Keys(ctx, keyPrefix)
		if err != nil {
			return nil, storeFailure("listing sessions", err)
		}
		for _, k := range keys {
			ids = append(ids, strings.TrimPrefix(k, keyPrefix))
		}
	} else {
		var err error
		if ids, err = m.store.IndexMembers(ctx, userIndexPrefix+user); err != nil {
			return nil, storeFailure("reading user index", err)
		}
	}
	now := m.cfg.now()
	out := make([]Info, 0, len(ids))
	for _, id := range ids {
		raw, err := m.store.Get(ctx, keyPrefix+id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, storeFailure("reading session", err)
		}
		var s Session
		if !decode(raw, &s) || !now.Before(s.Expires) || now.Sub(s.LastSeen) >= m.cfg.IdleTimeout {
			continue
		}
		s.ID = id
		out = append(out, s.Info)
	}
	if user == "" {
		sortInfos(out)
	}
	return out, nil
}

func sortInfos(out []Info) {
	// insertion sort by creation: listings are small and this keeps the
	// package free of a sort import for one call.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].Created.Before(out[j-1].Created); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
}

// End ends the session with handle id (Info.ID). found is false if no
// such live session exists.
func (m *Manager) End(ctx context.Context, id string) (bool, error) {
	if !ValidHandle(id) {
		return false, nil
	}
	raw, err := m.store.Get(ctx, keyPrefix+id)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, storeFailure("reading session", err)
	}
	var s Session
	user := ""
	if decode(raw, &s) {
		user = s.User
	}
	return true, m.end(ctx, id, user)
}

// EndToken ends the session of token (logout); found is false if the
// token has no live session.
func (m *Manager) EndToken(ctx context.Context, token string) (bool, error) {
	if !WellFormed(token) {
		return false, nil
	}
	return m.End(ctx, Handle(token))
}

func (m *Manager) end(ctx context.Context, id, user string) error {
	// The tombstone outlives any Lookup that read the session before it
	// ended (see touch).
	if err := m.store.Set(ctx, tombstonePrefix+id, []byte{1}, m.cfg.IdleTimeout+time.Minute); err != nil {
		return storeFailure("ending session", err)
	}
	if err := m.store.Delete(ctx, keyPrefix+id); err != nil {
		return storeFailure("ending session", err)
	}
	if user != "" {
		if err := m.store.IndexRemove(ctx, userIndexPrefix+user, id); err != nil {
			return storeFailure("updating user index", err)
		}
	}
	return nil
}

// EndUser ends every session of user and returns how many were live.
func (m *Manager) EndUser(ctx context.Context, user string) (int, error) {
	if user == "" {
		return 0, nil
	}
	ids, err := m.store.IndexMembers(ctx, userIndexPrefix+user)
	if err != nil {
		return 0, storeFailure("reading user index", err)
	}
	n := 0
	for _, id := range ids {
		found, err := m.End(ctx, id)
		if err != nil {
			return n, err
		}
		if found {
			n++
		}
	}
	if err := m.store.Delete(ctx, userIndexPrefix+user); err != nil {
		return n, storeFailure("deleting user index", err)
	}
	return n, nil
}
