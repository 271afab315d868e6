package authn

import (
	"context"
	"errors"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/apigw/caddy-apigw/failure"
)

// The runtime-key memo never answers for the store: a key revoked,
// changed or expired is seen on the next request, an unchanged one
// shares its identity, and the memo stays within its bound.
func TestRuntimeKeyMemo(t *testing.T) {
	ctx := context.Background()
	client := netip.MustParseAddr("10.1.2.3")
	setup := func(t *testing.T) (*KeyStore, *APIKeys, *time.Time) {
		ks := NewKeyStore(newMem(t))
		clock := time.Now()
		ks.now = func() time.Time { return clock }
		a, err := NewAPIKeys(nil, ks, true)
		if err != nil {
			t.Fatal(err)
		}
		return ks, a, &clock
	}
	t.Run("unchanged record shares the identity", func(t *testing.T) {
		ks, a, clock := setup(t)
		_, key, _ := ks.Create(ctx, NewKey{ID: "svc", User: "alice", Scopes: []string{"read"}, Metadata: map[string]string{"tier": "gold"}})
		id1, err := a.Authenticate(ctx, key, client, *clock)
		if err != nil {
			t.Fatal(err)
		}
		id2, _ := a.Authenticate(ctx, key, client, *clock)
		if id1 != id2 || id1.ID != "alice" || !id1.HasScope("read") || id1.Claims["tier"] != "gold" || id1.Claims["key_id"] != "svc" {
			t.Fatalf("identities %+v, %+v", id1, id2)
		}
	})
	t.Run("revoked key refused at once", func(t *testing.T) {
		ks, a, clock := setup(t)
		_, key, _ := ks.Create(ctx, NewKey{ID: "svc", User: "alice"})
		if _, err := a.Authenticate(ctx, key, client, *clock); err != nil {
			t.Fatal(err)
		}
		if ok, err := NewKeyStore(ks.s).Revoke(ctx, "svc"); !ok || err != nil { // another instance
			t.Fatalf("Revoke = %v, %v", ok, err)
		}
		if _, err := a.Authenticate(ctx, key, client, *clock); !errors.Is(err, failure.ErrInvalidAPIKey) {
			t.Fatalf("revoked key: %v, want invalid_api_key", err)
		}
	})
	t.Run("changed record applies at once", func(t *testing.T) {
		ks, a, clock := setup(t)
		rec, key, _ := ks.Create(ctx, NewKey{ID: "svc", User: "alice", Scopes: []string{"read"}})
		if _, err := a.Authenticate(ctx, key, client, *clock); err != nil {
			t.Fatal(err)
		}
		if _, err := ks.Update(ctx, "svc", rec.ETag(), func(r *KeyRecord) error { r.Scopes = []string{"write"}; return nil }); err != nil {
			t.Fatal(err)
		}
		id, err := a.Authenticate(ctx, key, client, *clock)
		if err != nil || !id.HasScope("write") || id.HasScope("read") {
			t.Fatalf("after update: %+v, %v", id, err)
		}
		rec, _, _ = ks.Get(ctx, "svc")
		if _, err := ks.Update(ctx, "svc", rec.ETag(), func(r *KeyRecord) error { r.AllowCIDRs = []string{"192.0.2.0/24"}; return nil }); err != nil {
			t.Fatal(err)
		}
		var refused *KeyRefused
		if _, err := a.Authenticate(ctx, key, client, *clock); !errors.As(err, &refused) || refused.Reason != ReasonClientAddress {
			t.Fatalf("after allow_cidr: %v, want a client_address refusal", err)
		}
	})
	t.Run("expiry checked every request", func(t *testing.T) {
		ks, a, clock := setup(t)
		_, key, _ := ks.Create(ctx, NewKey{ID: "svc", User: "alice", Expires: clock.Add(time.Hour)})
		if _, err := a.Authenticate(ctx, key, client, *clock); err != nil {
			t.Fatal(err)
		}
		*clock = clock.Add(time.Hour)
		if _, err := a.Authenticate(ctx, key, client, *clock); !errors.Is(err, failure.ErrInvalidAPIKey) {
			t.Fatalf("expired key: %v, want invalid_api_key", err)
		}
	})
	t.Run("bounded", func(t *testing.T) {
		ks, a, clock := setup(t)
		for i := range runtimeMemoSize + 300 {
			_, key, err := ks.Create(ctx, NewKey{ID: "k" + strconv.Itoa(i), User: "u"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.Authenticate(ctx, key, client, *clock); err != nil {
				t.Fatal(err)
			}
		}
		if n := a.memo.shards.Len(); n > runtimeMemoSize {
			t.Fatalf("memo holds %d keys, bound %d", n, runtimeMemoSize)
		}
	})
}
