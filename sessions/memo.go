package sessions

import (
	"bytes"
	"sync/atomic"
	"time"

	"github.com/apigw/caddy-apigw/authn"
	"github.com/apigw/caddy-apigw/internal/shardmap"
)

// Decoded-session memo defaults.
const (
	// memoSize bounds the sessions whose decoding is remembered: each
	// costs its stored bytes, the decoded Session and its Identity with
	// what the gateway derives from it (the placeholders and upstream
	// headers), about 1 KiB with a little metadata, so at most a few MiB.
	memoSize = 4096
	// memoShards is the number of independently locked shards.
	memoShards = 16
	// memoEvictSample is how many entries an insert into a full shard
	// looks at (map iteration starts at a random place), preferring a
	// session past its lifetime; otherwise the least recently seen goes.
	memoEvictSample = 8
)

// decodeMemo remembers, per session handle, the last stored bytes read
// and their decoding, so that the requests of a session decode it and
// build its Identity once per stored version (a version lasts until the
// next last-seen refresh, at most a minute) instead of once per request.
//
// It is not a cache of sessions: every lookup still reads the store, and
// the memo is only used when the bytes read are identical to the ones it
// decoded (then so is the decoding). A session ended, changed or expired
// in the store is seen at once, on every instance; the idle and lifetime
// checks run on every lookup. Entries are only made from bytes the store
// holds under a live session's handle, so unknown tokens never add any.
type decodeMemo struct {
	shards *shardmap.Map[string, *decodedSession]
}

// decodedSession is one memo entry: shared by the requests of a session,
// read-only once stored.
type decodedSession struct {
	key   string  // the store key, keyPrefix + handle
	raw   []byte  // the stored bytes decoded (a private copy)
	sess  Session // their decoding, ID set; sess.memo points back here
	ident atomic.Pointer[authn.Identity]
}

func newDecodeMemo() *decodeMemo {
	return &decodeMemo{shards: shardmap.New[string, *decodedSession](memoShards, memoSize/memoShards)}
}

// shard returns the shard of a handle (hex of a digest: uniform; the
// first 16 hex digits make its hash).
func (m *decodeMemo) shard(handle []byte) *shardmap.Shard[string, *decodedSession] {
	var h uint64
	for i := 0; i < len(handle) && i < 16; i++ {
		c := handle[i]
		if c >= 'a' {
			c -= 'a' - 10
		} else {
			c -= '0'
		}
		h = h<<4 | uint64(c&0xf)
	}
	return m.shards.Shard(h)
}

// get returns the entry of the handle in key (keyPrefix + handle), or
// nil; it does not allocate.
func (m *decodeMemo) get(key []byte) *decodedSession {
	handle := key[len(keyPrefix):]
	sh := m.shard(handle)
	sh.Lock()
	e := sh.M[string(handle)]
	sh.Unlock()
	return e
}

// decode returns the session stored as raw under key (keyPrefix +
// handle; decode's result with ID set): prev's when prev (get's entry
// for key) decoded the very same bytes; ok is false for malformed bytes.
// The returned session's Meta is shared and read-only.
func (m *decodeMemo) decode(prev *decodedSession, key string, raw []byte, now time.Time) (Session, bool) {
	if prev != nil && bytes.Equal(prev.raw, raw) {
		return prev.sess, true
	}
	e := &decodedSession{key: key, raw: bytes.Clone(raw)}
	if !decode(e.raw, &e.sess) {
		return Session{}, false
	}
	id := key[len(keyPrefix):]
	e.sess.ID = id
	e.sess.memo = e
	nowNano := now.UnixNano()
	sh := m.shard([]byte(id))
	sh.Lock()
	m.shards.Put(sh, id, e, memoEvictSample, func(v *decodedSession) bool { return v.sess.Expires.UnixNano() <= nowNano },
		func(v *decodedSession) int64 { return v.sess.LastSeen.UnixNano() })
	sh.Unlock()
	return e.sess, true
}

// touched records that the session s from decode was stored again as raw
// with only its last-seen time changed (Manager.touch): the new bytes get
// an entry of their own that keeps the identity already built. s.memo is
// updated to it.
func (m *decodeMemo) touched(s *Session, raw []byte) {
	prev := s.memo
	if prev == nil {
		return
	}
	e := &decodedSession{key: prev.key, raw: raw, sess: *s}
	// the wall-clock reading only, as decoding the stored bytes gives:
	// idle checks on a memo hit then compare the same clock as every
	// other path (the monotonic one stops during a host suspend)
	e.sess.LastSeen = e.sess.LastSeen.Round(0)
	e.sess.memo = e
	if id := prev.ident.Load(); id != nil {
		e.ident.Store(id)
	}
	sh := m.shard([]byte(s.ID))
	sh.Lock()
	if sh.M[s.ID] == prev { // else another request stored a newer one
		sh.M[s.ID] = e
	}
	sh.Unlock()
	s.memo = e
}

// identity returns the Identity of the entry's session, built once.
func (e *decodedSession) identity() *authn.Identity {
	if id := e.ident.Load(); id != nil {
		return id
	}
	id := e.sess.newIdentity()
	if e.ident.CompareAndSwap(nil, id) {
		return id
	}
	return e.ident.Load()
}
