package authn

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
	"unsafe"

	"github.com/apigw/caddy-apigw/failure"
)

// HashKey returns the SHA-256 digest of a presented API key: the only form
// in which keys exist in configuration and in the store.
func HashKey(key string) [sha256.Size]byte {
	return SHA256String(key)
}

// SHA256String returns SHA-256(s), hashing the string's bytes in place:
// []byte(s) copies a string longer than 32 bytes to the heap (an API
// key, a token, a session cookie: once per request), and Sum256 only
// reads them. It is the one way the gateway hashes a presented secret.
func SHA256String(s string) [sha256.Size]byte {
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(s), len(s)))
}

// HashKeyHex returns HashKey(key) as lowercase hex, the form written in a
// Caddyfile (`printf %s "$KEY" | sha256sum`).
func HashKeyHex(key string) string {
	h := HashKey(key)
	return hex.EncodeToString(h[:])
}

// ParseKeyHash decodes a SHA-256 hex digest as written in configuration.
func ParseKeyHash(s string) ([sha256.Size]byte, error) {
	var out [sha256.Size]byte
	if len(s) != 2*sha256.Size {
		return out, fmt.Errorf("key hash must be %d hex characters (SHA-256), got %d; compute it with: printf %%s \"$KEY\" | sha256sum", 2*sha256.Size, len(s))
	}
	if _, err := hex.Decode(out[:], []byte(strings.ToLower(s))); err != nil {
		return out, fmt.Errorf("key hash is not hex: %w", err)
	}
	return out, nil
}

// ConfigKey is one API key as configured: its digest and the identity it
// maps to.
type ConfigKey struct {
	// Hash is the SHA-256 digest of the key.
	Hash [sha256.Size]byte
	// Record describes the key (id, user, scopes, roles, metadata, expiry).
	Record KeyRecord
	// AllowCIDRs, if not empty, restricts the client addresses that may
	// use the key.
	AllowCIDRs []netip.Prefix
}

// KeyCheck is the outcome of matching a presented key.
type KeyCheck int

// Outcomes of KeySet.Match.
const (
	// KeyUnknown means no configured key has the presented key's digest.
	KeyUnknown KeyCheck = iota
	// KeyValid means the key matched and may be used.
	KeyValid
	// KeyExpired means the key matched but its expiry passed.
	KeyExpired
	// KeyAddressDenied means the key matched but the client address is not
	// in its allowed CIDRs.
	KeyAddressDenied
)

// KeySet is an immutable set of configured keys, looked up by the SHA-256
// digest of the presented key. The map lookup is on the digest (an
// attacker learns nothing useful from its timing: finding a key with a
// chosen digest prefix is a preimage problem) and the final comparison is
// constant-time.
type KeySet struct {
	byHash map[[sha256.Size]byte]*keyEntry
}

type keyEntry struct {
	key      ConfigKey
	identity *Identity
}

// dummyHash is compared against when no key matches, so a miss does the
// same work as a hit.
var dummyHash [sha256.Size]byte

// NewKeySet builds a key set. It fails on duplicate digests or ids.
func NewKeySet(keys []ConfigKey) (*KeySet, error) {
	ks := &KeySet{byHash: make(map[[sha256.Size]byte]*keyEntry, len(keys))}
	ids := make(map[string]bool, len(keys))
	for _, k := range keys {
		if _, dup := ks.byHash[k.Hash]; dup {
			return nil, fmt.Errorf("key %q: the same key hash is configured twice", k.Record.ID)
		}
		if ids[k.Record.ID] {
			return nil, fmt.Errorf("key id %q is used twice; give each key a distinct `id`", k.Record.ID)
		}
		ids[k.Record.ID] = true
		ks.byHash[k.Hash] = &keyEntry{key: k, identity: k.Record.Identity()}
	}
	return ks, nil
}

// Len returns the number of keys.
func (ks *KeySet) Len() int { return len(ks.byHash) }

// Records returns the keys' records (never a key or digest).
func (ks *KeySet) Records() []KeyRecord {
	out := make([]KeyRecord, 0, len(ks.byHash))
	for _, e := range ks.byHash {
		out = append(out, e.key.Record)
	}
	return out
}

// Match looks up presented for a client at addr (the zero Addr when
// unknown: then keys with CIDRs are denied) at time now. The returned
// identity is shared and must not be modified. The record is returned for
// every outcome except KeyUnknown.
func (ks *KeySet) Match(presented string, addr netip.Addr, now time.Time) (KeyCheck, *Identity, *KeyRecord) {
	sum := HashKey(presented)
	e, ok := ks.byHash[sum]
	want := &dummyHash
	if ok {
		want = &e.key.Hash
	}
	if subtle.ConstantTimeCompare(want[:], sum[:]) != 1 || !ok {
		return KeyUnknown, nil, nil
	}
	rec := &e.key.Record
	if rec.ExpiredAt(now) {
		return KeyExpired, nil, rec
	}
	if len(e.key.AllowCIDRs) > 0 {
		allowed := false
		if addr.IsValid() {
			addr = addr.Unmap()
			for _, p := range e.key.AllowCIDRs {
				if p.Contains(addr) {
					allowed = true
					break
				}
			}
		}
		if !allowed {
			return KeyAddressDenied, nil, rec
		}
	}
	return KeyValid, e.identity, rec
}

// KeyRecord describes an API key without revealing it: what admin
// listings show and what a key maps to.
type KeyRecord struct {
	// ID identifies the key in listings, logs and revocations.
	ID string `json:"id"`
	// User is the identity the key authenticates as ({http.auth.user.id}).
	User string `json:"user"`
	// Scopes are the scopes granted to the key.
	Scopes []string `json:"scopes,omitempty"`
	// Roles are the roles granted to the key.
	Roles []string `json:"roles,omitempty"`
	// Metadata is free-form data published with the identity.
	Metadata map[string]string `json:"metadata,omitempty"`
	// Created is when the key was created (zero for config keys).
	Created time.Time `json:"created,omitzero"`
	// Expires is when the key stops working (zero: never).
	Expires time.Time `json:"expires,omitzero"`
	// AllowCIDRs, if not empty, lists the client networks that may use
	// the key (CIDRs in canonical form).
	AllowCIDRs []string `json:"allow_cidr,omitempty"`
	// Source is "config" or "runtime".
	Source string `json:"source"`
	// Revoked is set in listings for a config key revoked over the admin
	// API (a revoked runtime key is deleted instead).
	Revoked bool `json:"revoked,omitempty"`
}

// Sources of a KeyRecord.
const (
	SourceConfig  = "config"
	SourceRuntime = "runtime"
)

// ExpiredAt reports whether the key no longer works at now (a zero
// Expires never expires).
func (rec *KeyRecord) ExpiredAt(now time.Time) bool {
	return !rec.Expires.IsZero() && !now.Before(rec.Expires)
}

// Identity returns the identity a request authenticated by this key gets:
// ID = User, method "api_key", the key's scopes and roles, and its metadata
// plus "key_id" as claims.
func (rec *KeyRecord) Identity() *Identity {
	claims := make(map[string]any, len(rec.Metadata)+1)
	for k, v := range rec.Metadata {
		claims[k] = v
	}
	claims["key_id"] = rec.ID
	return &Identity{ID: rec.User, Method: "api_key", Scopes: rec.Scopes, Roles: rec.Roles, Claims: claims}
}

// AllowsAddr reports whether a client at addr may use the key: true when
// the record lists no CIDRs, false for an invalid addr when it does. The
// CIDRs of a runtime record are parsed here, per request: runtime keys
// already decode their record from the store on every request, and this
// keeps a PATCH of allow_cidr effective on the next request everywhere.
func (rec *KeyRecord) AllowsAddr(addr netip.Addr) bool {
	if len(rec.AllowCIDRs) == 0 {
		return true
	}
	if !addr.IsValid() {
		return false
	}
	addr = addr.Unmap()
	for _, c := range rec.AllowCIDRs {
		if p, err := netip.ParsePrefix(c); err == nil && p.Contains(addr) {
			return true
		}
	}
	return false
}

// errKeyIDEmpty is returned for records without id.
var errKeyIDEmpty = errors.New("key record has no id")

// Reasons a known API key is refused (KeyRefused.Reason).
const (
	ReasonRevoked       = "revoked"
	ReasonExpired       = "expired"
	ReasonClientAddress = "client_address"
)

// KeyRefused is the cause of an ErrInvalidAPIKey failure for a key that
// exists but may not be used: its id and why, for the audit log. It never
// holds the key.
type KeyRefused struct {
	// KeyID is the refused key's id.
	KeyID string
	// Reason is ReasonRevoked, ReasonExpired or ReasonClientAddress.
	Reason string
}

// Error returns "key <id>: <reason>".
func (e *KeyRefused) Error() string { return "key " + e.KeyID + ": " + e.Reason }

// errInvalidAPIKey is the failure of an unknown key: shared, it costs a
// refusal no allocation.
var errInvalidAPIKey = failure.New(failure.ErrInvalidAPIKey, "API key is invalid")

func keyRefused(id, reason string) error {
	return failure.Wrap(failure.ErrInvalidAPIKey, errInvalidAPIKey.Detail, &KeyRefused{KeyID: id, Reason: reason})
}

// APIKeys authenticates presented API keys: the configured keys first
// (with their expiry, client networks and revocation markers), then,
// unless disabled, the runtime keys of the store.
type APIKeys struct {
	keys    *KeySet
	revoked map[string]string // key id → precomputed store key of its revocation marker
	store   *KeyStore
	runtime bool
	memo    *runtimeMemo // runtime keys' decoded records and identities
}

// NewAPIKeys checks the configured keys and returns their authenticator;
// runtime says whether keys created over the admin API are accepted too.
func NewAPIKeys(cfg []APIKeyConfig, ks *KeyStore, runtime bool) (*APIKeys, error) {
	keys := make([]ConfigKey, 0, len(cfg))
	revoked := make(map[string]string, len(cfg))
	for i, k := range cfg {
		ck, err := k.ConfigKey()
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", i, err)
		}
		keys = append(keys, ck)
		revoked[ck.Record.ID] = RevokedKey(ck.Record.ID)
	}
	set, err := NewKeySet(keys)
	if err != nil {
		return nil, err
	}
	if set.Len() == 0 && !runtime {
		return nil, errors.New("no keys: add `key <sha256-hex> <user>` or allow runtime keys")
	}
	a := &APIKeys{keys: set, revoked: revoked, store: ks, runtime: runtime}
	if runtime {
		a.memo = newRuntimeMemo()
	}
	return a, nil
}

// Register lists the configured keys for the admin API (see
// RegisterConfigKeySet) until unregister is called.
func (a *APIKeys) Register(owner string) (unregister func()) {
	return RegisterConfigKeySet(owner, a.keys)
}

// Authenticate returns the identity of the key presented by a client at
// client (the zero Addr when unknown) at time now. The identity is shared
// (a configured key's, or a runtime key's per stored version of its
// record) and must not be modified. A refused key is a
// failure.ErrInvalidAPIKey (with a *KeyRefused cause when the key exists);
// a store that cannot answer is a failure.ErrUnavailable.
func (a *APIKeys) Authenticate(ctx context.Context, presented string, client netip.Addr, now time.Time) (*Identity, error) {
	check, id, rec := a.keys.Match(presented, client, now)
	switch check {
	case KeyValid:
		revoked, err := a.store.MarkerSet(ctx, a.revoked[rec.ID])
		if err != nil {
			return nil, errUnavailable(err)
		}
		if revoked {
			return nil, keyRefused(rec.ID, ReasonRevoked)
		}
		return id, nil
	case KeyExpired:
		return nil, keyRefused(rec.ID, ReasonExpired)
	case KeyAddressDenied:
		return nil, keyRefused(rec.ID, ReasonClientAddress)
	}
	if !a.runtime {
		return nil, errInvalidAPIKey
	}
	if !strings.HasPrefix(presented, KeyPrefix) {
		return nil, errInvalidAPIKey // runtime keys all carry the prefix: skip the store
	}
	sum := HashKey(presented)
	rrec, id, ok, err := a.store.runtimeIdentity(ctx, &sum, a.memo)
	if err != nil {
		return nil, errUnavailable(err)
	}
	if !ok {
		return nil, errInvalidAPIKey
	}
	if !rrec.AllowsAddr(client) {
		return nil, keyRefused(rrec.ID, ReasonClientAddress)
	}
	return id, nil
}

// errUnavailable is the fail-closed answer when the store cannot say
// whether a credential is good: a failure.ErrUnavailable with the
// client-safe detail every provider shows, wrapping the store's error
// for the log.
func errUnavailable(err error) error {
	return failure.Wrap(failure.ErrUnavailable, "credentials cannot be checked right now", err)
}
