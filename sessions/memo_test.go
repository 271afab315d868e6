package sessions

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"
)

// The decode memo never answers for the store: a session ended or
// rewritten in the store is seen on the next lookup, an unchanged one
// shares its decoding and Identity, a last-seen refresh keeps the
// Identity, and the memo stays within its bound.
func TestDecodeMemo(t *testing.T) {
	ctx := context.Background()
	t.Run("unchanged bytes share the identity", func(t *testing.T) {
		m, _, _ := testManager(t, Config{})
		token, _, err := m.Create(ctx, "alice", map[string]string{"scope": "read write", "email": "a@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		s1, err := m.Lookup(ctx, token)
		if err != nil {
			t.Fatal(err)
		}
		s2, err := m.Lookup(ctx, token)
		if err != nil {
			t.Fatal(err)
		}
		id1, id2 := s1.Identity(), s2.Identity()
		if id1 != id2 || id1.ID != "alice" || id1.Method != "session" || !id1.HasScope("write") || id1.Claims["email"] != "a@example.com" {
			t.Fatalf("identities %+v, %+v", id1, id2)
		}
	})
	t.Run("touch keeps the identity", func(t *testing.T) {
		m, c, _ := testManager(t, Config{})
		token, _, _ := m.Create(ctx, "alice", nil)
		s1, _ := m.Lookup(ctx, token)
		id := s1.Identity()    // as the first request does
		c.add(2 * time.Minute) // past touchEvery: Lookup refreshes last seen
		s2, err := m.Lookup(ctx, token)
		if err != nil || !s2.LastSeen.Equal(c.now()) {
			t.Fatalf("lookup after touch: %+v, %v", s2, err)
		}
		s3, _ := m.Lookup(ctx, token)
		if id != s2.Identity() || id != s3.Identity() || !s3.LastSeen.Equal(c.now()) {
			t.Fatal("a last-seen refresh rebuilt the identity or lost the new last seen")
		}
	})
	t.Run("ended session refused at once", func(t *testing.T) {
		m, _, _ := testManager(t, Config{})
		token, info, _ := m.Create(ctx, "alice", nil)
		if _, err := m.Lookup(ctx, token); err != nil {
			t.Fatal(err)
		}
		other := NewManager(m.store, m.cfg) // another instance ends it
		if found, err := other.End(ctx, info.ID); err != nil || !found {
			t.Fatalf("End = %v, %v", found, err)
		}
		if _, err := m.Lookup(ctx, token); !errors.Is(err, ErrInvalid) {
			t.Fatalf("lookup of an ended session = %v, want ErrInvalid", err)
		}
	})
	t.Run("rewritten bytes decoded again", func(t *testing.T) {
		m, c, st := testManager(t, Config{})
		token, info, _ := m.Create(ctx, "alice", map[string]string{"scope": "read"})
		s1, _ := m.Lookup(ctx, token)
		s := s1
		s.Meta = map[string]string{"scope": "admin"}
		if err := st.Set(ctx, keyPrefix+info.ID, encode(&s), time.Hour); err != nil {
			t.Fatal(err)
		}
		c.add(time.Second)
		s2, err := m.Lookup(ctx, token)
		if err != nil || s2.Meta["scope"] != "admin" || !s2.Identity().HasScope("admin") || s2.Identity().HasScope("read") {
			t.Fatalf("lookup after rewrite: %+v, %v", s2, err)
		}
	})
	t.Run("concurrent lookups", func(t *testing.T) {
		m, _, _ := testManager(t, Config{})
		token, _, _ := m.Create(ctx, "alice", map[string]string{"roles": "admin"})
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range 200 {
					s, err := m.Lookup(ctx, token)
					if err != nil || !s.Identity().HasRole("admin") {
						t.Errorf("lookup: %+v, %v", s, err)
						return
					}
				}
			})
		}
		wg.Wait()
	})
	t.Run("bounded", func(t *testing.T) {
		m, _, _ := testManager(t, Config{MaxPerUser: 1})
		for i := range memoSize + 500 {
			token, _, err := m.Create(ctx, "u"+strconv.Itoa(i), nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := m.Lookup(ctx, token); err != nil {
				t.Fatal(err)
			}
		}
		if n := m.memo.shards.Len(); n > memoSize {
			t.Fatalf("memo holds %d sessions, bound %d", n, memoSize)
		}
	})
}
