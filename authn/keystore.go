package authn

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/apigw/caddy-apigw/store"
)

// Store key layout of runtime keys and revocations (the store adds its own
// prefix in front):
//
//	key:h:<sha256 hex>   → JSON of the runtime key's record
//	key:id:<id>          → sha256 hex of the runtime key with that id
//	key:revoked:<id>     → marker: the config key with that id is revoked
//	key:old:<id>         → sha256 hex of the previous secret of a rotated
//	                       key, while it is in its grace period
const (
	keyHashPrefix    = "key:h:"
	keyIDPrefix      = "key:id:"
	keyRevokedPrefix = "key:revoked:"
	keyOldPrefix     = "key:old:"
)

// KeyPrefix starts every key KeyStore.Create returns, so leaked keys are
// easy to recognise (secret scanners, logs).
const KeyPrefix = "apigw_"

// KeyStore manages runtime API keys (created over the admin API) and
// revocations of runtime and config keys, in a store.Store shared by every
// instance. It caches nothing: every lookup reads the store, so a revoked
// key stops working everywhere at once.
type KeyStore struct {
	s   store.Store
	now func() time.Time
}

// NewKeyStore returns a KeyStore backed by s.
func NewKeyStore(s store.Store) *KeyStore {
	return &KeyStore{s: s, now: time.Now}
}

// RevokedKey returns the store key marking config key id as revoked.
func RevokedKey(id string) string { return keyRevokedPrefix + id }

// NewKey describes a runtime key to create.
type NewKey struct {
	// ID names the key (default: a random "key_…" id). It must not be
	// the id of another runtime or config key.
	ID string
	// User is the identity the key authenticates as (required).
	User string
	// Scopes, Roles and Metadata are published with the identity.
	Scopes, Roles []string
	Metadata      map[string]string
	// AllowCIDRs limits the client networks (canonical CIDRs).
	AllowCIDRs []string
	// Expires is when the key stops working (zero: never).
	Expires time.Time
}

// Create makes a new random key: 256 bits from crypto/rand, base64url,
// prefixed with KeyPrefix. Only its SHA-256 digest is stored; the key is
// returned once and never again. ErrKeyExists means nk.ID is taken.
func (k *KeyStore) Create(ctx context.Context, nk NewKey) (KeyRecord, string, error) {
	if nk.User == "" {
		return KeyRecord{}, "", errors.New("creating key: user is empty")
	}
	now := k.now().UTC().Truncate(time.Second)
	if !nk.Expires.IsZero() && !nk.Expires.After(now) {
		return KeyRecord{}, "", errors.New("creating key: expires is in the past")
	}
	id := nk.ID
	if id == "" {
		var idb [9]byte
		if _, err := rand.Read(idb[:]); err != nil {
			return KeyRecord{}, "", fmt.Errorf("creating key id: %w", err)
		}
		id = "key_" + hex.EncodeToString(idb[:])
	} else if isConfigKeyID(id) {
		return KeyRecord{}, "", ErrKeyExists
	}
	key, err := newSecret()
	if err != nil {
		return KeyRecord{}, "", err
	}
	rec := KeyRecord{
		ID:         id,
		User:       nk.User,
		Scopes:     nk.Scopes,
		Roles:      nk.Roles,
		Metadata:   nk.Metadata,
		AllowCIDRs: nk.AllowCIDRs,
		Created:    now,
		Expires:    nk.Expires.UTC(),
		Source:     SourceRuntime,
	}
	if nk.Expires.IsZero() {
		rec.Expires = time.Time{}
	}
	h := HashKeyHex(key)
	ok, err := k.s.SetNX(ctx, keyIDPrefix+rec.ID, []byte(h), k.recordTTL(rec))
	if err != nil {
		return KeyRecord{}, "", fmt.Errorf("storing key: %w", err)
	}
	if !ok {
		return KeyRecord{}, "", ErrKeyExists
	}
	if err := k.putRecord(ctx, h, rec, k.recordTTL(rec)); err != nil {
		_ = k.s.Delete(ctx, keyIDPrefix+rec.ID)
		return KeyRecord{}, "", err
	}
	return rec, key, nil
}

// newSecret returns a fresh random key.
func newSecret() (string, error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("creating key: %w", err)
	}
	return KeyPrefix + base64.RawURLEncoding.EncodeToString(raw[:]), nil
}

// recordTTL is how long the store keeps a record: until a minute after its
// expiry, or forever (0) for a key that never expires.
func (k *KeyStore) recordTTL(rec KeyRecord) time.Duration {
	if rec.Expires.IsZero() {
		return 0
	}
	ttl := rec.Expires.Sub(k.now()) + time.Minute
	if ttl < time.Minute {
		ttl = time.Minute
	}
	return ttl
}

func (k *KeyStore) putRecord(ctx context.Context, hashHex string, rec KeyRecord, ttl time.Duration) error {
	val, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("storing key: %w", err)
	}
	if err := k.s.Set(ctx, keyHashPrefix+hashHex, val, ttl); err != nil {
		return fmt.Errorf("storing key: %w", err)
	}
	return nil
}

// List returns every runtime key in the store and every config key of the
// running providers (RegisterConfigKeys), sorted by id. Revoked config keys
// are listed with Revoked set. It never returns a key or its digest.
func (k *KeyStore) List(ctx context.Context) ([]KeyRecord, error) {
	out := []KeyRecord{} // never nil: listings encode as []
	err := storeEach(ctx, k.s, keyIDPrefix, "listing keys", func(_ string, h []byte) error {
		rec, ok, err := k.runtimeRecord(ctx, string(h))
		if ok {
			out = append(out, rec)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	for _, rec := range configKeys() {
		revoked, err := k.configRevoked(ctx, rec.ID)
		if err != nil {
			return nil, err
		}
		rec.Revoked = revoked
		out = append(out, rec)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Revoke makes key id stop working on every instance sharing the store. A
// runtime key is deleted; a config key gets a revocation marker (it stays
// revoked until it is removed from the config, or reused under another
// id). found is false if no key has that id.
func (k *KeyStore) Revoke(ctx context.Context, id string) (bool, error) {
	if id == "" {
		return false, nil
	}
	h, err := k.s.Get(ctx, keyIDPrefix+id)
	switch {
	case err == nil:
		del := []string{keyHashPrefix + string(h), keyIDPrefix + id, keyOldPrefix + id}
		if old, err := k.s.Get(ctx, keyOldPrefix+id); err == nil {
			del = append(del, keyHashPrefix+string(old)) // the previous secret in its grace period
		}
		if err := k.s.Delete(ctx, del...); err != nil {
			return false, fmt.Errorf("revoking key: %w", err)
		}
		return true, nil
	case !errors.Is(err, store.ErrNotFound):
		return false, fmt.Errorf("revoking key: %w", err)
	}
	for _, rec := range configKeys() {
		if rec.ID != id {
			continue
		}
		var ttl time.Duration
		if !rec.Expires.IsZero() {
			ttl = time.Until(rec.Expires) + time.Minute
			if ttl <= time.Minute {
				ttl = time.Minute
			}
		}
		if err := k.s.Set(ctx, RevokedKey(id), []byte("1"), ttl); err != nil {
			return false, fmt.Errorf("revoking key: %w", err)
		}
		return true, nil
	}
	return false, nil
}

// Lookup finds the runtime or config key presented, honouring expiry and
// revocations (not per-key CIDRs: the provider checks those). ok is false
// for an unknown, expired or revoked key; err is set only when the store
// failed.
func (k *KeyStore) Lookup(ctx context.Context, presented string) (KeyRecord, bool, error) {
	if presented == "" {
		return KeyRecord{}, false, nil
	}
	rec, ok, err := k.LookupRuntime(ctx, presented)
	if err != nil || ok {
		return rec, ok, err
	}
	sum := HashKey(presented)
	configMu.RLock()
	var found *ConfigKey
	for _, ks := range configSets {
		if ks == nil {
			continue
		}
		if e, ok := ks.byHash[sum]; ok {
			found = &e.key
			break
		}
	}
	configMu.RUnlock()
	if found == nil {
		return KeyRecord{}, false, nil
	}
	if found.Record.ExpiredAt(k.now()) {
		return KeyRecord{}, false, nil
	}
	revoked, err := k.configRevoked(ctx, found.Record.ID)
	if err != nil || revoked {
		return KeyRecord{}, false, err
	}
	return found.Record, true, nil
}

// LookupRuntime finds a runtime key (not config keys). ok is false for an
// unknown, expired or revoked key; err is set only when the store failed.
func (k *KeyStore) LookupRuntime(ctx context.Context, presented string) (KeyRecord, bool, error) {
	if !strings.HasPrefix(presented, KeyPrefix) {
		return KeyRecord{}, false, nil // runtime keys all carry the prefix: skip the store
	}
	return k.runtimeRecord(ctx, HashKeyHex(presented))
}

// decodeRecord decodes a runtime key's stored record.
func decodeRecord(val []byte) (KeyRecord, error) {
	var rec KeyRecord
	if err := json.Unmarshal(val, &rec); err != nil {
		return KeyRecord{}, fmt.Errorf("decoding stored key record: %w", err)
	}
	if rec.ID == "" {
		return KeyRecord{}, fmt.Errorf("decoding stored key record: %w", errKeyIDEmpty)
	}
	return rec, nil
}

func (k *KeyStore) runtimeRecord(ctx context.Context, hashHex string) (KeyRecord, bool, error) {
	val, ok, err := storeGet(ctx, k.s, keyHashPrefix+hashHex, "looking up key")
	if !ok {
		return KeyRecord{}, false, err
	}
	rec, err := decodeRecord(val)
	if err != nil {
		return KeyRecord{}, false, err
	}
	if rec.ExpiredAt(k.now()) {
		return KeyRecord{}, false, nil
	}
	return rec, true, nil
}

// ConfigRevoked reports whether config key id carries a revocation marker.
func (k *KeyStore) ConfigRevoked(ctx context.Context, id string) (bool, error) {
	return k.configRevoked(ctx, id)
}

func (k *KeyStore) configRevoked(ctx context.Context, id string) (bool, error) {
	return k.markerSet(ctx, RevokedKey(id))
}

func (k *KeyStore) markerSet(ctx context.Context, key string) (bool, error) {
	_, ok, err := storeGet(ctx, k.s, key, "checking key revocation")
	return ok, err
}

// MarkerSet reports whether the store holds key (a revocation marker such
// as RevokedKey(id)); a precomputed key keeps the request path free of
// allocations.
func (k *KeyStore) MarkerSet(ctx context.Context, key string) (bool, error) {
	return k.markerSet(ctx, key)
}

var (
	configMu   sync.RWMutex
	configSets = map[uint64]*KeySet{}
	configRecs = map[uint64][]KeyRecord{}
	configSeq  uint64
)

// RegisterConfigKeys records the config keys of a running provider so
// KeyStore.List shows them and KeyStore.Revoke/Lookup know their ids. The
// provider calls it at Provision and calls unregister at Cleanup. owner is
// a label for debugging; registrations are independent even when owners
// repeat (old and new config overlap during a reload).
func RegisterConfigKeys(owner string, recs []KeyRecord) (unregister func()) {
	return registerConfig(owner, nil, recs)
}

// RegisterConfigKeySet is RegisterConfigKeys for a provider's whole key
// set, which also lets KeyStore.Lookup find config keys by digest.
func RegisterConfigKeySet(owner string, ks *KeySet) (unregister func()) {
	return registerConfig(owner, ks, ks.Records())
}

func registerConfig(_ string, ks *KeySet, recs []KeyRecord) func() {
	configMu.Lock()
	configSeq++
	id := configSeq
	configSets[id] = ks
	cp := make([]KeyRecord, len(recs))
	copy(cp, recs)
	for i := range cp {
		cp[i].Source = SourceConfig
	}
	configRecs[id] = cp
	configMu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			configMu.Lock()
			delete(configSets, id)
			delete(configRecs, id)
			configMu.Unlock()
		})
	}
}

// configKeys returns the registered config keys, one record per id.
func configKeys() []KeyRecord {
	configMu.RLock()
	defer configMu.RUnlock()
	seen := map[string]bool{}
	var out []KeyRecord
	ids := make([]uint64, 0, len(configRecs))
	for id := range configRecs {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] > ids[j] }) // newest registration wins
	for _, id := range ids {
		for _, rec := range configRecs[id] {
			if !seen[rec.ID] {
				seen[rec.ID] = true
				out = append(out, rec)
			}
		}
	}
	return out
}
