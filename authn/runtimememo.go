package authn

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"

	"github.com/apigw/caddy-apigw/internal/shardmap"
)

// Runtime-key memo bounds.
const (
	// runtimeMemoSize bounds the runtime keys whose decoding is
	// remembered: each costs its stored record twice (bytes and decoded)
	// and its Identity with what the gateway derives from it, under 2 KiB
	// with a little metadata.
	runtimeMemoSize = 4096
	// runtimeMemoShards is the number of independently locked shards.
	runtimeMemoShards = 16
	// runtimeMemoEvictSample is how many entries an insert into a full
	// shard looks at, preferring an expired key.
	runtimeMemoEvictSample = 8
)

// runtimeMemo remembers, per runtime key digest, the record last read
// from the store, its decoding and its Identity, so a runtime key's
// requests decode its JSON record and build its identity once per stored
// version instead of once per request.
//
// It is not a cache of keys: every request still reads the record from
// the store, and the memo is used only when the bytes read are identical
// to the ones it decoded. A key deleted (revoked) or changed in the store
// is seen on the next request, on every instance; its expiry and client
// networks are checked on every request. Entries are made only from
// records the store holds under a presented key's digest, so unknown keys
// never add any.
type runtimeMemo struct {
	shards *shardmap.Map[[sha256.Size]byte, *runtimeEntry]
}

// runtimeEntry is one memo entry, shared and read-only once stored.
type runtimeEntry struct {
	storeKey string // keyHashPrefix + digest hex
	raw      []byte // the stored record decoded (a private copy)
	rec      KeyRecord
	id       *Identity
}

func newRuntimeMemo() *runtimeMemo {
	return &runtimeMemo{shards: shardmap.New[[sha256.Size]byte, *runtimeEntry](runtimeMemoShards, runtimeMemoSize/runtimeMemoShards)}
}

func (m *runtimeMemo) shard(sum *[sha256.Size]byte) *shardmap.Shard[[sha256.Size]byte, *runtimeEntry] {
	return m.shards.Shard(binary.LittleEndian.Uint64(sum[:8]))
}

// runtimeIdentity is LookupRuntime for the key whose digest is sum, with
// the record's identity, through memo: the record and identity are
// shared and must not be modified.
func (k *KeyStore) runtimeIdentity(ctx context.Context, sum *[sha256.Size]byte, memo *runtimeMemo) (*KeyRecord, *Identity, bool, error) {
	sh := memo.shard(sum)
	sh.Lock()
	e := sh.M[*sum]
	sh.Unlock()
	storeKey := ""
	if e != nil {
		storeKey = e.storeKey // no key to build
	} else {
		storeKey = keyHashPrefix + hex.EncodeToString(sum[:])
	}
	val, ok, err := storeGet(ctx, k.s, storeKey, "looking up key")
	if !ok {
		return nil, nil, false, err
	}
	if e == nil || !bytes.Equal(e.raw, val) {
		rec, err := decodeRecord(val)
		if err != nil {
			return nil, nil, false, err
		}
		e = &runtimeEntry{storeKey: storeKey, raw: bytes.Clone(val), rec: rec}
		e.id = e.rec.Identity()
		now := k.now()
		sh.Lock()
		memo.shards.Put(sh, *sum, e, runtimeMemoEvictSample, func(v *runtimeEntry) bool { return v.rec.ExpiredAt(now) },
			func(*runtimeEntry) int64 { return 0 })
		sh.Unlock()
	}
	if e.rec.ExpiredAt(k.now()) {
		return nil, nil, false, nil
	}
	return &e.rec, e.id, true, nil
}
