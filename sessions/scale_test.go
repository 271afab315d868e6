package sessions

import (
	"context"
	"github.com/apigw/caddy-apigw/internal/testutil"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/apigw/caddy-apigw/store"
)

// TestSessionsScale creates 10k sessions (one per user, with scope and
// an e-mail as metadata) in the memory store and logs the heap they cost
// (docs/GUIDE.md, "Scaling"); one user's logins stay capped at
// MaxPerUser.
func TestSessionsScale(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 10k sessions")
	}
	const n = 10_000
	st := store.NewMemory(time.Hour)
	defer st.Close()
	m := NewManager(st, Config{})
	ctx := context.Background()
	users := make([]string, n)
	for i := range users {
		users[i] = "user-" + strconv.Itoa(i)
	}
	tokens := make([]string, n)
	before := testutil.HeapInUse()
	for i, u := range users {
		var err error
		if tokens[i], _, err = m.Create(ctx, u, map[string]string{"scope": "read write", "email": u + "@example.com"}); err != nil {
			t.Fatal(err)
		}
	}
	after := testutil.HeapInUse()
	t.Logf("sessions: %d, %.1f MiB heap, %d bytes per session", n, float64(after-before)/(1<<20), (after-before)/n)
	// every session used once: the decode memo keeps at most memoSize
	for _, token := range tokens {
		s, err := m.Lookup(ctx, token)
		if err != nil {
			t.Fatal(err)
		}
		s.Identity()
	}
	used := testutil.HeapInUse()
	memo := m.memo.shards.Len()
	if memo > memoSize {
		t.Fatalf("decode memo holds %d sessions, bound %d", memo, memoSize)
	}
	t.Logf("decode memo: %d sessions, %.1f MiB heap, %d bytes per session", memo, float64(used-after)/(1<<20), (used-after)/uint64(memo))
	max := m.Config().MaxPerUser
	for range 3 * max {
		if _, _, err := m.Create(ctx, "busy", nil); err != nil {
			t.Fatal(err)
		}
	}
	if infos, err := m.List(ctx, "busy"); err != nil || len(infos) != max {
		t.Fatalf("one user holds %d sessions (err %v), cap %d", len(infos), err, max)
	}
	runtime.KeepAlive(users)
}
