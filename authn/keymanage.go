package authn

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Errors of the key management operations (admin API).
var (
	// ErrKeyNotFound means no runtime or config key has the id.
	ErrKeyNotFound = errors.New("no such key")
	// ErrKeyExists means a key with the requested id exists already.
	ErrKeyExists = errors.New("a key with this id exists already")
	// ErrConfigKey means the operation changes a key that comes from the
	// configuration: the configuration is its source of truth, so it is
	// changed there (only a revocation is accepted at runtime).
	ErrConfigKey = errors.New("the key comes from the configuration")
	// ErrKeyChanged means the key's ETag is not the one the caller
	// expected (If-Match): someone changed it meanwhile.
	ErrKeyChanged = errors.New("the key changed since it was read")
)

// ETag returns a strong entity tag over the record's whole state (every
// field the admin API shows), quoted as in an HTTP ETag header.
func (rec *KeyRecord) ETag() string {
	b, _ := json.Marshal(rec) // a struct of strings, slices, maps and times: cannot fail
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}

// Get returns the runtime or config key with id (a revoked config key with
// Revoked set). ok is false for an unknown id.
func (k *KeyStore) Get(ctx context.Context, id string) (KeyRecord, bool, error) {
	rec, _, ok, err := k.runtimeByID(ctx, id)
	if err != nil || ok {
		return rec, ok, err
	}
	for _, rec := range configKeys() {
		if rec.ID == id {
			revoked, err := k.configRevoked(ctx, id)
			if err != nil {
				return KeyRecord{}, false, err
			}
			rec.Revoked = revoked
			return rec, true, nil
		}
	}
	return KeyRecord{}, false, nil
}

// runtimeByID returns the runtime record with id and the digest of its
// current secret.
func (k *KeyStore) runtimeByID(ctx context.Context, id string) (KeyRecord, string, bool, error) {
	if id == "" {
		return KeyRecord{}, "", false, nil
	}
	h, ok, err := storeGet(ctx, k.s, keyIDPrefix+id, "looking up key")
	if !ok {
		return KeyRecord{}, "", false, err
	}
	rec, ok, err := k.runtimeRecord(ctx, string(h))
	return rec, string(h), ok, err
}

// Page returns at most size keys with ids after the id after (all keys
// when after is empty), of user only when user is not empty, sorted by id;
// more reports whether keys follow the last one returned. Each page reads
// the whole listing (one SCAN on Redis, then a read per key): the admin
// API is for operators, never the request path, and a cursor that is an
// id stays valid across changes between pages.
func (k *KeyStore) Page(ctx context.Context, user, after string, size int) (page []KeyRecord, more bool, err error) {
	all, err := k.List(ctx)
	if err != nil {
		return nil, false, err
	}
	i := sort.Search(len(all), func(i int) bool { return all[i].ID > after })
	for ; i < len(all); i++ {
		if user != "" && all[i].User != user {
			continue
		}
		if len(page) == size {
			return page, true, nil
		}
		page = append(page, all[i])
	}
	return page, false, nil
}

// Update changes the runtime key id: apply edits a copy of its record
// (ID, User, Created and Source are kept whatever apply does). ifMatch,
// when not empty, must be the record's current ETag or "*"
// (ErrKeyChanged). The change is in the store, which every instance reads
// per request, so it applies everywhere from the next request. A previous
// secret still in its rotation grace period gets the change too.
//
// The read and the write are two store operations: two concurrent updates
// of one key both pass an If-Match read before either writes, and the
// later write wins. Admin changes are rare and made by operators; the
// store interface has no compare-and-set, and this was judged acceptable.
func (k *KeyStore) Update(ctx context.Context, id, ifMatch string, apply func(*KeyRecord) error) (KeyRecord, error) {
	rec, h, ok, err := k.runtimeByID(ctx, id)
	if err != nil {
		return KeyRecord{}, err
	}
	if !ok {
		if isConfigKeyID(id) {
			return KeyRecord{}, ErrConfigKey
		}
		return KeyRecord{}, ErrKeyNotFound
	}
	if ifMatch != "" && !ETagMatches(ifMatch, rec.ETag()) {
		return KeyRecord{}, ErrKeyChanged
	}
	next := rec
	next.Scopes = append([]string(nil), rec.Scopes...)
	next.Roles = append([]string(nil), rec.Roles...)
	next.AllowCIDRs = append([]string(nil), rec.AllowCIDRs...)
	if rec.Metadata != nil {
		next.Metadata = make(map[string]string, len(rec.Metadata))
		for mk, mv := range rec.Metadata {
			next.Metadata[mk] = mv
		}
	}
	if err := apply(&next); err != nil {
		return KeyRecord{}, err
	}
	next.ID, next.User, next.Created, next.Source, next.Revoked = rec.ID, rec.User, rec.Created, rec.Source, false
	if !next.Expires.IsZero() {
		next.Expires = next.Expires.UTC()
		if !next.Expires.After(k.now()) {
			return KeyRecord{}, errors.New("updating key: expires is in the past")
		}
	}
	ttl := k.recordTTL(next)
	if err := k.putRecord(ctx, h, next, ttl); err != nil {
		return KeyRecord{}, err
	}
	if err := k.s.Set(ctx, keyIDPrefix+id, []byte(h), ttl); err != nil {
		return KeyRecord{}, fmt.Errorf("storing key: %w", err)
	}
	if old, err := k.s.Get(ctx, keyOldPrefix+id); err == nil {
		if prev, ok, err := k.runtimeRecord(ctx, string(old)); err == nil && ok {
			graceEnd := prev.Expires
			cp := next
			cp.Expires = graceEnd
			if d := graceEnd.Sub(k.now()); d > 0 {
				if err := k.putRecord(ctx, string(old), cp, d+time.Second); err != nil {
					return KeyRecord{}, err
				}
			}
		}
	}
	return next, nil
}

// Rotate gives the runtime key id a new secret, returned once. The old
// secret keeps working for grace (0: it stops at once), with the key's
// current state; one previous secret is kept at a time, so a second
// rotation within the grace period ends the first one's grace at once.
func (k *KeyStore) Rotate(ctx context.Context, id string, grace time.Duration) (KeyRecord, string, error) {
	rec, h, ok, err := k.runtimeByID(ctx, id)
	if err != nil {
		return KeyRecord{}, "", err
	}
	if !ok {
		if isConfigKeyID(id) {
			return KeyRecord{}, "", ErrConfigKey
		}
		return KeyRecord{}, "", ErrKeyNotFound
	}
	key, err := newSecret()
	if err != nil {
		return KeyRecord{}, "", err
	}
	h2 := HashKeyHex(key)
	ttl := k.recordTTL(rec)
	if err := k.putRecord(ctx, h2, rec, ttl); err != nil {
		return KeyRecord{}, "", err
	}
	if err := k.s.Set(ctx, keyIDPrefix+id, []byte(h2), ttl); err != nil {
		_ = k.s.Delete(ctx, keyHashPrefix+h2)
		return KeyRecord{}, "", fmt.Errorf("storing key: %w", err)
	}
	del := []string{}
	if prev, err := k.s.Get(ctx, keyOldPrefix+id); err == nil {
		del = append(del, keyHashPrefix+string(prev))
	}
	if grace > 0 {
		old := rec
		end := k.now().Add(grace).UTC()
		if old.Expires.IsZero() || end.Before(old.Expires) {
			old.Expires = end
		}
		if err := k.putRecord(ctx, h, old, grace+time.Second); err != nil {
			return KeyRecord{}, "", err
		}
		if err := k.s.Set(ctx, keyOldPrefix+id, []byte(h), grace+time.Second); err != nil {
			return KeyRecord{}, "", fmt.Errorf("storing key: %w", err)
		}
	} else {
		del = append(del, keyHashPrefix+h, keyOldPrefix+id)
	}
	if len(del) > 0 {
		if err := k.s.Delete(ctx, del...); err != nil {
			return KeyRecord{}, "", fmt.Errorf("rotating key: %w", err)
		}
	}
	return rec, key, nil
}

// ETagMatches reports whether an If-Match header value (a list of entity
// tags, or "*") matches etag by the strong comparison of RFC 9110 §8.8.3.2.
func ETagMatches(ifMatch, etag string) bool {
	for _, t := range strings.Split(ifMatch, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}

// isConfigKeyID reports whether a running provider configures a key with id.
func isConfigKeyID(id string) bool {
	for _, rec := range configKeys() {
		if rec.ID == id {
			return true
		}
	}
	return false
}
