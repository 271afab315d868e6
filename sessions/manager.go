// Package sessions holds caddy-apigw's browser-facing security logic
// without Caddy: server-side sessions over a store.Store, the login
// credential check, CSRF defence, and HMAC-signed requests with a
// once-only replay cache.
//
// A session is identified by a random 256-bit token that only the client
// holds (in an HttpOnly cookie). The store keeps the session under its
// handle, the first 128 bits of SHA-256(token) in hex: a dump of the store
// (or an admin listing) never reveals a usable token. There is no local
// cache: every lookup reads the shared store, so ending a session on one
// instance is effective on every instance sharing it at once.
package sessions

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/apigw/caddy-apigw/store"
)

// Defaults of Config.
const (
	DefaultCookieName  = "apigw_session"
	DefaultIdleTimeout = 30 * time.Minute
	DefaultLifetime    = 12 * time.Hour
	DefaultMaxPerUser  = 10
	DefaultSameSite    = "lax"
)

// HostPrefix is the cookie name prefix that makes browsers refuse the
// cookie unless it is Secure, has Path=/ and no Domain (RFC 6265bis): a
// sibling subdomain cannot plant or overwrite it.
const HostPrefix = "__Host-"

// Store key namespaces.
const (
	keyPrefix       = "sess:"     // sess:<handle> → encoded session
	tombstonePrefix = "sessend:"  // sessend:<handle> → ended marker
	userIndexPrefix = "sessuser:" // sessuser:<user> → handles by creation time
)

// ErrInvalid is returned by Lookup for a token that is malformed, unknown,
// ended, idle for too long or past its lifetime. Callers answer 401
// invalid_session; the reason is deliberately not distinguished.
var ErrInvalid = errors.New("sessions: invalid session")

// Config configures a Manager. The zero value of every field means its
// default.
type Config struct {
	// CookieName is the session cookie's name (default apigw_session).
	// With HostPrefix the name sent is "__Host-" + CookieName.
	CookieName string
	// IdleTimeout ends a session that was not used for this long
	// (default 30m). Last-seen is written at most once per
	// IdleTimeout/20 (at most once a minute), so the effective idle
	// timeout is between 95% and 100% of the value.
	IdleTimeout time.Duration
	// Lifetime ends a session this long after login, however active
	// (default 12h).
	Lifetime time.Duration
	// MaxPerUser caps the live sessions of one user; a login beyond it
	// ends the user's oldest session (default 10).
	MaxPerUser int
	// HostPrefix names the cookie "__Host-<CookieName>" (default false).
	// Browsers accept such a cookie only over HTTPS, so enable it only
	// for sites served over HTTPS.
	HostPrefix bool
	// SameSite is the cookie's SameSite attribute: "lax" (default) or
	// "strict".
	SameSite string

	now func() time.Time // tests
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.CookieName == "" {
		c.CookieName = DefaultCookieName
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.Lifetime <= 0 {
		c.Lifetime = DefaultLifetime
	}
	if c.MaxPerUser <= 0 {
		c.MaxPerUser = DefaultMaxPerUser
	}
	c.SameSite = strings.ToLower(c.SameSite)
	if c.SameSite == "" {
		c.SameSite = DefaultSameSite
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c
}

// Validate reports a configuration mistake, naming the option and the fix.
func (c Config) Validate() error {
	if c.CookieName != "" && !validCookieName(c.CookieName) {
		return fmt.Errorf("session cookie name %q is not a valid cookie name: use letters, digits, '_' or '-'", c.CookieName)
	}
	if strings.HasPrefix(c.CookieName, "__") {
		return fmt.Errorf("session cookie name %q must not start with \"__\": use host_prefix to get the __Host- prefix", c.CookieName)
	}
	if c.IdleTimeout < 0 || c.Lifetime < 0 {
		return errors.New("session idle_timeout and lifetime must be positive durations")
	}
	if c.IdleTimeout > 0 && c.Lifetime > 0 && c.IdleTimeout > c.Lifetime {
		return fmt.Errorf("session idle_timeout %s is longer than lifetime %s: lower idle_timeout or raise lifetime", c.IdleTimeout, c.Lifetime)
	}
	if c.MaxPerUser < 0 {
		return errors.New("session max_per_user must be a positive number")
	}
	switch strings.ToLower(c.SameSite) {
	case "", "lax", "strict":
	default:
		return fmt.Errorf("session same_site %q is not supported: use lax or strict (None would send the cookie on cross-site requests)", c.SameSite)
	}
	return nil
}

func validCookieName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return s != ""
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
}

// Manager creates, looks up and ends sessions in a store.Store.
type Manager struct {
	store      store.Store
	cfg        Config
	touchEvery time.Duration
}

// NewManager returns a Manager over s; cfg's zero fields get defaults.
func NewManager(s store.Store, cfg Config) *Manager {
	cfg = cfg.WithDefaults()
	touch := cfg.IdleTimeout / 20
	if touch > time.Minute {
		touch = time.Minute
	}
	return &Manager{store: s, cfg: cfg, touchEvery: touch}
}

// Config returns the manager's effective configuration.
func (m *Manager) Config() Config { return m.cfg }

// TokenLen is the length of a session token: 32 random bytes, base64url
// without padding.
const TokenLen = 43

// NewToken returns a fresh 256-bit token from crypto/rand.
func NewToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("sessions: reading random token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// WellFormed reports whether token has the shape of a session token, so
// garbage cookies are refused without a store round trip.
func WellFormed(token string) bool {
	if len(token) != TokenLen {
		return false
	}
	for i := 0; i < len(token); i++ {
		c := token[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Handle returns the handle (Info.ID) of token.
func Handle(token string) string {
	var h [32 + 5]byte
	return string(appendHandleKey(h[:0], "", token))
}

// appendHandleKey appends prefix + handle(token) to dst.
func appendHandleKey(dst []byte, prefix, token string) []byte {
	sum := sha256.Sum256([]byte(token))
	dst = append(dst, prefix...)
	return hex.AppendEncode(dst, sum[:16])
}

// ValidHandle reports whether id has the shape of a handle.
func ValidHandle(id string) bool {
	if len(id) != 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

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
		return "", Info{}, fmt.Errorf("sessions: saving session: %w", err)
	}
	if err := m.store.IndexAdd(ctx, userIndexPrefix+user, s.ID, now.UnixNano(), m.cfg.Lifetime); err != nil {
		_ = m.store.Delete(ctx, keyPrefix+s.ID)
		return "", Info{}, fmt.Errorf("sessions: indexing session: %w", err)
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
		return fmt.Errorf("sessions: reading user index: %w", err)
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
			return fmt.Errorf("sessions: reading session: %w", err)
		} else {
			live = append(live, id)
		}
	}
	if len(dead) > 0 {
		if err := m.store.IndexRemove(ctx, userIndexPrefix+user, dead...); err != nil {
			return fmt.Errorf("sessions: cleaning user index: %w", err)
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
	keyStr := string(key)
	raw, err := m.store.Get(ctx, keyStr)
	if errors.Is(err, store.ErrNotFound) {
		return Session{}, ErrInvalid
	}
	if err != nil {
		return Session{}, fmt.Errorf("sessions: reading session: %w", err)
	}
	var s Session
	if !decode(raw, &s) {
		return Session{}, ErrInvalid
	}
	s.ID = keyStr[len(keyPrefix):]
	now := m.cfg.now()
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
	if err := m.store.Set(ctx, key, encode(s), m.ttl(now, s.Expires)); err != nil {
		return fmt.Errorf("sessions: touching session: %w", err)
	}
	_, err := m.store.Get(ctx, tombstonePrefix+s.ID)
	switch {
	case err == nil:
		_ = m.store.Delete(ctx, key)
		return ErrInvalid
	case errors.Is(err, store.ErrNotFound):
		return nil
	default:
		return fmt.Errorf("sessions: checking session end: %w", err)
	}
}

// List returns the live sessions of user, oldest first, or of every user
// if user is "" (an admin listing that scans the store).
func (m *Manager) List(ctx context.Context, user string) ([]Info, error) {
	var ids []string
	if user == "" {
		keys, err := m.store.Keys(ctx, keyPrefix)
		if err != nil {
			return nil, fmt.Errorf("sessions: listing sessions: %w", err)
		}
		for _, k := range keys {
			ids = append(ids, strings.TrimPrefix(k, keyPrefix))
		}
	} else {
		var err error
		if ids, err = m.store.IndexMembers(ctx, userIndexPrefix+user); err != nil {
			return nil, fmt.Errorf("sessions: reading user index: %w", err)
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
			return nil, fmt.Errorf("sessions: reading session: %w", err)
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
		return false, fmt.Errorf("sessions: reading session: %w", err)
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
		return fmt.Errorf("sessions: ending session: %w", err)
	}
	if err := m.store.Delete(ctx, keyPrefix+id); err != nil {
		return fmt.Errorf("sessions: ending session: %w", err)
	}
	if user != "" {
		if err := m.store.IndexRemove(ctx, userIndexPrefix+user, id); err != nil {
			return fmt.Errorf("sessions: updating user index: %w", err)
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
		return 0, fmt.Errorf("sessions: reading user index: %w", err)
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
		return n, fmt.Errorf("sessions: deleting user index: %w", err)
	}
	return n, nil
}

// CookieName returns the name of the session cookie as sent, including
// the __Host- prefix when configured.
func (m *Manager) CookieName() string {
	if m.cfg.HostPrefix {
		return HostPrefix + m.cfg.CookieName
	}
	return m.cfg.CookieName
}

// Cookie returns the session cookie carrying token: HttpOnly, Path=/,
// SameSite as configured, Secure when the request came over HTTPS (always
// with the __Host- prefix). It has no Max-Age: a session cookie the
// browser drops when it closes; the server enforces the lifetime.
func (m *Manager) Cookie(token string, secure bool) *http.Cookie {
	c := &http.Cookie{
		Name:     m.CookieName(),
		Value:    token,
		Path:     "/",
		HttpOnly: true,
		Secure:   secure || m.cfg.HostPrefix,
		SameSite: http.SameSiteLaxMode,
	}
	if m.cfg.SameSite == "strict" {
		c.SameSite = http.SameSiteStrictMode
	}
	return c
}

// ClearCookie returns a cookie that makes the browser delete the session
// cookie (Max-Age=0).
func (m *Manager) ClearCookie(secure bool) *http.Cookie {
	c := m.Cookie("", secure)
	c.MaxAge = -1 // net/http writes Max-Age=0
	return c
}

// encode serializes a session's stored fields: version, created,
// last-seen, expires, user and metadata. A compact binary form keeps
// lookups cheap.
func encode(s *Session) []byte {
	n := 1 + 3*binary.MaxVarintLen64 + binary.MaxVarintLen64 + len(s.User) + binary.MaxVarintLen64
	for k, v := range s.Meta {
		n += 2*binary.MaxVarintLen64 + len(k) + len(v)
	}
	b := make([]byte, 0, n)
	b = append(b, 1)
	b = binary.AppendVarint(b, s.Created.UnixNano())
	b = binary.AppendVarint(b, s.LastSeen.UnixNano())
	b = binary.AppendVarint(b, s.Expires.UnixNano())
	b = appendBytes(b, s.User)
	b = binary.AppendUvarint(b, uint64(len(s.Meta)))
	for k, v := range s.Meta {
		b = appendBytes(b, k)
		b = appendBytes(b, v)
	}
	return b
}

func appendBytes(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decode parses encode's output into s (all fields but ID); it reports
// false for anything malformed.
func decode(b []byte, s *Session) bool {
	if len(b) == 0 || b[0] != 1 {
		return false
	}
	b = b[1:]
	var ts [3]int64
	for i := range ts {
		v, n := binary.Varint(b)
		if n <= 0 {
			return false
		}
		ts[i], b = v, b[n:]
	}
	user, b, ok := readBytes(b)
	if !ok || user == "" {
		return false
	}
	cnt, n := binary.Uvarint(b)
	if n <= 0 || cnt > uint64(len(b)) {
		return false
	}
	b = b[n:]
	s.User = user
	s.Created, s.LastSeen, s.Expires = time.Unix(0, ts[0]), time.Unix(0, ts[1]), time.Unix(0, ts[2])
	s.Meta = nil
	if cnt > 0 {
		s.Meta = make(map[string]string, cnt)
		for i := uint64(0); i < cnt; i++ {
			var k, v string
			if k, b, ok = readBytes(b); !ok {
				return false
			}
			if v, b, ok = readBytes(b); !ok {
				return false
			}
			s.Meta[k] = v
		}
	}
	return len(b) == 0
}

func readBytes(b []byte) (string, []byte, bool) {
	l, n := binary.Uvarint(b)
	if n <= 0 || l > uint64(len(b)-n) {
		return "", nil, false
	}
	b = b[n:]
	return string(b[:l]), b[l:], true
}
