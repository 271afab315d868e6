package authn

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestKeyStoreUpdateRotatePage(t *testing.T) {
	ctx := context.Background()
	ks := NewKeyStore(newMem(t))
	clock := time.Now()
	ks.now = func() time.Time { return clock }

	rec, key, err := ks.Create(ctx, NewKey{ID: "svc", User: "alice", Scopes: []string{"read"}, Metadata: map[string]string{"tier": "gold"}})
	if err != nil || rec.ID != "svc" {
		t.Fatalf("Create = %+v, %v", rec, err)
	}
	if _, _, err := ks.Create(ctx, NewKey{ID: "svc", User: "bob"}); !errors.Is(err, ErrKeyExists) {
		t.Fatalf("second Create with id svc = %v, want ErrKeyExists", err)
	}
	got, ok, err := ks.Get(ctx, "svc")
	if !ok || err != nil || got.ETag() != rec.ETag() {
		t.Fatalf("Get = %+v %v %v", got, ok, err)
	}

	t.Run("update with a stale ETag", func(t *testing.T) {
		_, err := ks.Update(ctx, "svc", `"stale"`, func(r *KeyRecord) error { r.Scopes = nil; return nil })
		if !errors.Is(err, ErrKeyChanged) {
			t.Fatalf("Update = %v, want ErrKeyChanged", err)
		}
	})
	t.Run("update applies to lookups", func(t *testing.T) {
		next, err := ks.Update(ctx, "svc", rec.ETag(), func(r *KeyRecord) error {
			r.Scopes = []string{"write"}
			r.AllowCIDRs = []string{"10.0.0.0/8"}
			r.ID, r.User = "other", "mallory" // ignored
			return nil
		})
		if err != nil || next.ID != "svc" || next.User != "alice" || next.ETag() == rec.ETag() {
			t.Fatalf("Update = %+v, %v", next, err)
		}
		looked, ok, err := ks.LookupRuntime(ctx, key)
		if !ok || err != nil || len(looked.Scopes) != 1 || looked.Scopes[0] != "write" || looked.AllowCIDRs[0] != "10.0.0.0/8" {
			t.Fatalf("LookupRuntime after Update = %+v %v %v", looked, ok, err)
		}
	})
	t.Run("unknown id", func(t *testing.T) {
		if _, err := ks.Update(ctx, "nope", "", func(*KeyRecord) error { return nil }); !errors.Is(err, ErrKeyNotFound) {
			t.Fatalf("Update = %v", err)
		}
		if _, _, err := ks.Rotate(ctx, "nope", 0); !errors.Is(err, ErrKeyNotFound) {
			t.Fatalf("Rotate = %v", err)
		}
	})
	t.Run("rotate with grace", func(t *testing.T) {
		_, key2, err := ks.Rotate(ctx, "svc", 5*time.Second)
		if err != nil || key2 == key {
			t.Fatalf("Rotate = %v", err)
		}
		for _, k := range []string{key, key2} {
			if _, ok, err := ks.LookupRuntime(ctx, k); !ok || err != nil {
				t.Fatalf("secret rejected within grace: %v %v", ok, err)
			}
		}
		// a PATCH during the grace period reaches the old secret too
		if _, err := ks.Update(ctx, "svc", "", func(r *KeyRecord) error { r.Scopes = []string{"narrow"}; return nil }); err != nil {
			t.Fatal(err)
		}
		if old, _, _ := ks.LookupRuntime(ctx, key); len(old.Scopes) != 1 || old.Scopes[0] != "narrow" {
			t.Fatalf("old secret kept its scopes: %+v", old)
		}
		clock = clock.Add(5 * time.Second)
		if _, ok, _ := ks.LookupRuntime(ctx, key); ok {
			t.Fatal("old secret works after its grace period")
		}
		if _, ok, _ := ks.LookupRuntime(ctx, key2); !ok {
			t.Fatal("new secret rejected")
		}
		// rotate without grace: the current secret stops at once
		_, key3, err := ks.Rotate(ctx, "svc", 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := ks.LookupRuntime(ctx, key2); ok {
			t.Fatal("secret works after a rotation without grace")
		}
		if _, ok, _ := ks.LookupRuntime(ctx, key3); !ok {
			t.Fatal("rotated secret rejected")
		}
	})
	t.Run("page", func(t *testing.T) {
		for _, u := range []string{"bob", "alice", "bob"} {
			if _, _, err := ks.Create(ctx, NewKey{User: u}); err != nil {
				t.Fatal(err)
			}
		}
		var seen []string
		after := ""
		for {
			page, more, err := ks.Page(ctx, "", after, 3)
			if err != nil || len(page) > 3 {
				t.Fatalf("Page = %d, %v", len(page), err)
			}
			for _, r := range page {
				seen = append(seen, r.ID)
			}
			if !more {
				break
			}
			after = page[len(page)-1].ID
		}
		if len(seen) != 4 {
			t.Fatalf("paged %v, want 4 keys", seen)
		}
		bobs, more, _ := ks.Page(ctx, "bob", "", 100)
		if len(bobs) != 2 || more {
			t.Fatalf("user filter: %d keys, more %v", len(bobs), more)
		}
	})
}

func TestRevocationsListUnrevoke(t *testing.T) {
	ctx := context.Background()
	r := NewRevocations(newMem(t))
	exp := time.Now().Add(time.Hour).Truncate(time.Second).UTC()
	if err := r.RevokeJTI(ctx, "b", exp); err != nil {
		t.Fatal(err)
	}
	if err := r.RevokeJTI(ctx, "a", time.Time{}); err != nil {
		t.Fatal(err)
	}
	list, err := r.List(ctx)
	if err != nil || len(list) != 2 || list[0].JTI != "a" || !list[0].Expires.IsZero() || list[1].JTI != "b" || !list[1].Expires.Equal(exp) {
		t.Fatalf("List = %+v, %v", list, err)
	}
	if found, err := r.Unrevoke(ctx, "b"); !found || err != nil {
		t.Fatalf("Unrevoke = %v, %v", found, err)
	}
	if revoked, _ := r.IsRevoked(ctx, "b"); revoked {
		t.Fatal("still revoked after Unrevoke")
	}
	if found, _ := r.Unrevoke(ctx, "b"); found {
		t.Fatal("second Unrevoke found something")
	}
}
