package authn

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/apigw/caddy-apigw/failure"
	"github.com/apigw/caddy-apigw/store"
)

// failStore is a store whose backend is down.
type failStore struct{ store.Store }

func (failStore) Get(context.Context, string) ([]byte, error) {
	return nil, fmt.Errorf("get: %w", failure.ErrUnavailable)
}

func (failStore) Set(context.Context, string, []byte, time.Duration) error {
	return fmt.Errorf("set: %w", failure.ErrUnavailable)
}

func newMem(t testing.TB) *store.Memory {
	t.Helper()
	m := store.NewMemory(time.Minute)
	t.Cleanup(func() { _ = m.Close() })
	return m
}

func mustKeySet(t testing.TB, keys ...ConfigKey) *KeySet {
	t.Helper()
	ks, err := NewKeySet(keys)
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

func TestHashKeyMatchesSha256sum(t *testing.T) {
	// printf %s demo-key-1 | sha256sum — the digest in Caddyfile.example
	const want = "0b2c109e25ac7d47cc0c56f999832031c7391890ee1893f299b5df9a9256f1d1"
	if got := HashKeyHex("demo-key-1"); got != want {
		t.Fatalf("HashKeyHex = %s, want %s", got, want)
	}
	h, err := ParseKeyHash(strings.ToUpper(want))
	if err != nil || h != HashKey("demo-key-1") {
		t.Fatalf("ParseKeyHash(upper) = %x, %v", h, err)
	}
}

func TestParseKeyHashRejects(t *testing.T) {
	for _, tc := range []struct{ name, in string }{
		{"empty", ""},
		{"short", "abcd"},
		{"plain key", "demo-key-1"},
		{"not hex", strings.Repeat("zz", 32)},
		{"too long", strings.Repeat("ab", 33)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseKeyHash(tc.in); err == nil {
				t.Fatalf("ParseKeyHash(%q) accepted", tc.in)
			}
		})
	}
}

func TestKeySetMatch(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	ks := mustKeySet(t,
		ConfigKey{Hash: HashKey("plain"), Record: KeyRecord{ID: "k1", User: "alice", Scopes: []string{"read"}, Metadata: map[string]string{"tier": "gold"}}},
		ConfigKey{Hash: HashKey("old"), Record: KeyRecord{ID: "k2", User: "bob", Expires: now.Add(-time.Second)}},
		ConfigKey{Hash: HashKey("later"), Record: KeyRecord{ID: "k3", User: "carol", Expires: now.Add(time.Hour)}},
		ConfigKey{Hash: HashKey("net"), Record: KeyRecord{ID: "k4", User: "dave"}, AllowCIDRs: []netip.Prefix{
			netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")}},
	)
	v4 := netip.MustParseAddr("10.1.2.3")
	for _, tc := range []struct {
		name      string
		key       string
		addr      netip.Addr
		want      KeyCheck
		wantUser  string
		wantKeyID string
	}{
		{"valid", "plain", v4, KeyValid, "alice", "k1"},
		{"unknown", "plain2", v4, KeyUnknown, "", ""},
		{"empty", "", v4, KeyUnknown, "", ""},
		{"prefix of a key", "pla", v4, KeyUnknown, "", ""},
		{"case differs", "PLAIN", v4, KeyUnknown, "", ""},
		{"expired", "old", v4, KeyExpired, "", "k2"},
		{"not yet expired", "later", v4, KeyValid, "carol", "k3"},
		{"cidr allowed v4", "net", v4, KeyValid, "dave", "k4"},
		{"cidr allowed v4-mapped", "net", netip.MustParseAddr("::ffff:10.9.9.9"), KeyValid, "dave", "k4"},
		{"cidr allowed v6", "net", netip.MustParseAddr("2001:db8::1"), KeyValid, "dave", "k4"},
		{"cidr denied", "net", netip.MustParseAddr("192.168.1.1"), KeyAddressDenied, "", "k4"},
		{"cidr unknown client", "net", netip.Addr{}, KeyAddressDenied, "", "k4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, id, rec := ks.Match(tc.key, tc.addr, now)
			if got != tc.want {
				t.Fatalf("Match = %v, want %v", got, tc.want)
			}
			if tc.wantUser != "" && (id == nil || id.ID != tc.wantUser || id.Method != "api_key" || id.Claims["key_id"] != tc.wantKeyID) {
				t.Fatalf("identity = %+v", id)
			}
			if tc.want != KeyValid && id != nil {
				t.Fatalf("identity returned for %v", got)
			}
			if tc.wantKeyID != "" && (rec == nil || rec.ID != tc.wantKeyID) {
				t.Fatalf("record = %+v", rec)
			}
		})
	}
	if _, id, _ := ks.Match("plain", v4, now); id.Claims["tier"] != "gold" || !id.HasScope("read") {
		t.Fatalf("metadata/scopes not mapped: %+v", id)
	}
}

func TestNewKeySetRejectsDuplicates(t *testing.T) {
	for _, tc := range []struct {
		name string
		keys []ConfigKey
	}{
		{"same hash", []ConfigKey{{Hash: HashKey("a"), Record: KeyRecord{ID: "1"}}, {Hash: HashKey("a"), Record: KeyRecord{ID: "2"}}}},
		{"same id", []ConfigKey{{Hash: HashKey("a"), Record: KeyRecord{ID: "1"}}, {Hash: HashKey("b"), Record: KeyRecord{ID: "1"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewKeySet(tc.keys); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestKeyStoreRuntimeKeys(t *testing.T) {
	ctx := context.Background()
	ks := NewKeyStore(newMem(t))
	rec, key, err := ks.Create(ctx, NewKey{User: "svc-a", Scopes: []string{"read"}, Metadata: map[string]string{"team": "x"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(key, KeyPrefix) || len(key) < len(KeyPrefix)+43 {
		t.Fatalf("key %q: want %s + >= 256 bits base64url", key, KeyPrefix)
	}
	if rec.Source != SourceRuntime || rec.User != "svc-a" || rec.ID == "" || rec.Created.IsZero() {
		t.Fatalf("record %+v", rec)
	}
	_, key2, err := ks.Create(ctx, NewKey{User: "svc-b", Expires: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if key2 == key {
		t.Fatal("two keys are equal")
	}

	got, ok, err := ks.Lookup(ctx, key)
	if err != nil || !ok || got.ID != rec.ID || got.Metadata["team"] != "x" {
		t.Fatalf("Lookup = %+v %v %v", got, ok, err)
	}
	for _, bad := range []string{"", key + "x", key[:len(key)-1], "apigw_nope"} {
		if _, ok, err := ks.Lookup(ctx, bad); ok || err != nil {
			t.Fatalf("Lookup(%q) = %v, %v", bad, ok, err)
		}
	}

	// the store holds no key, only its digest
	keys, _ := ks.s.Keys(ctx, "")
	for _, k := range keys {
		v, _ := ks.s.Get(ctx, k)
		if strings.Contains(k, key) || strings.Contains(string(v), key) {
			t.Fatalf("store entry %q holds the key", k)
		}
	}

	list, err := ks.List(ctx)
	if err != nil || len(list) != 2 {
		t.Fatalf("List = %+v, %v", list, err)
	}
	found, err := ks.Revoke(ctx, rec.ID)
	if err != nil || !found {
		t.Fatalf("Revoke = %v, %v", found, err)
	}
	if _, ok, _ := ks.Lookup(ctx, key); ok {
		t.Fatal("revoked key still works")
	}
	if found, _ := ks.Revoke(ctx, rec.ID); found {
		t.Fatal("revoking twice reports found")
	}
	if found, _ := ks.Revoke(ctx, "nope"); found {
		t.Fatal("unknown id reported found")
	}
	if list, _ := ks.List(ctx); len(list) != 1 {
		t.Fatalf("List after revoke = %+v", list)
	}
}

func TestKeyStoreCreateRejects(t *testing.T) {
	ks := NewKeyStore(newMem(t))
	if _, _, err := ks.Create(context.Background(), NewKey{User: ""}); err == nil {
		t.Fatal("empty user accepted")
	}
	if _, _, err := ks.Create(context.Background(), NewKey{User: "u", Expires: time.Now().Add(-time.Hour)}); err == nil {
		t.Fatal("past expiry accepted")
	}
}

func TestKeyStoreRuntimeKeyExpires(t *testing.T) {
	ctx := context.Background()
	ks := NewKeyStore(newMem(t))
	_, key, err := ks.Create(ctx, NewKey{User: "u", Expires: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	ks.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	if _, ok, _ := ks.Lookup(ctx, key); ok {
		t.Fatal("expired runtime key accepted")
	}
}

func TestKeyStoreConfigKeys(t *testing.T) {
	ctx := context.Background()
	ks := NewKeyStore(newMem(t))
	set := mustKeySet(t, ConfigKey{Hash: HashKey("cfg-key"), Record: KeyRecord{ID: "cfg-1", User: "ops"}})
	unregister := RegisterConfigKeySet("test", set)
	// a second registration of the same id (old and new config during a
	// reload) is listed once
	unregister2 := RegisterConfigKeys("test-reload", set.Records())
	defer unregister2()

	list, err := ks.List(ctx)
	if err != nil || len(list) != 1 || list[0].ID != "cfg-1" || list[0].Source != SourceConfig {
		t.Fatalf("List = %+v, %v", list, err)
	}
	if rec, ok, err := ks.Lookup(ctx, "cfg-key"); !ok || err != nil || rec.User != "ops" {
		t.Fatalf("Lookup config key = %+v %v %v", rec, ok, err)
	}
	found, err := ks.Revoke(ctx, "cfg-1")
	if !found || err != nil {
		t.Fatalf("Revoke config key = %v, %v", found, err)
	}
	if revoked, err := ks.MarkerSet(ctx, RevokedKey("cfg-1")); !revoked || err != nil {
		t.Fatalf("marker = %v, %v", revoked, err)
	}
	if _, ok, _ := ks.Lookup(ctx, "cfg-key"); ok {
		t.Fatal("revoked config key still found")
	}
	if list, _ := ks.List(ctx); len(list) != 1 || !list[0].Revoked {
		t.Fatalf("revoked config key not listed as revoked: %+v", list)
	}
	if _, err := ks.Update(ctx, "cfg-1", "", func(*KeyRecord) error { return nil }); !errors.Is(err, ErrConfigKey) {
		t.Fatalf("Update of a config key = %v, want ErrConfigKey", err)
	}
	if _, _, err := ks.Rotate(ctx, "cfg-1", 0); !errors.Is(err, ErrConfigKey) {
		t.Fatalf("Rotate of a config key = %v, want ErrConfigKey", err)
	}
	if _, _, err := ks.Create(ctx, NewKey{ID: "cfg-1", User: "x"}); !errors.Is(err, ErrKeyExists) {
		t.Fatalf("Create with a config key's id = %v, want ErrKeyExists", err)
	}
	unregister()
	unregister2()
	if found, _ := NewKeyStore(newMem(t)).Revoke(ctx, "cfg-1"); found {
		t.Fatal("unregistered config key still revocable")
	}
}

func TestKeyStoreFailsClosed(t *testing.T) {
	ctx := context.Background()
	ks := NewKeyStore(failStore{newMem(t)})
	if _, ok, err := ks.Lookup(ctx, KeyPrefix+"whatever"); ok || !errors.Is(err, failure.ErrUnavailable) {
		t.Fatalf("Lookup = %v, %v; want ErrUnavailable", ok, err)
	}
	if _, err := ks.MarkerSet(ctx, RevokedKey("x")); !errors.Is(err, failure.ErrUnavailable) {
		t.Fatalf("MarkerSet err = %v", err)
	}
	if _, _, err := ks.Create(ctx, NewKey{User: "u"}); !errors.Is(err, failure.ErrUnavailable) {
		t.Fatalf("Create err = %v", err)
	}
}

func TestRevocations(t *testing.T) {
	ctx := context.Background()
	r := NewRevocations(newMem(t))
	if err := r.RevokeJTI(ctx, "", time.Time{}); err == nil {
		t.Fatal("empty jti accepted")
	}
	for _, tc := range []struct {
		name string
		jti  string
		exp  time.Time
	}{
		{"no exp", "a", time.Time{}},
		{"future exp", "b", time.Now().Add(time.Hour)},
		{"past exp", "c", time.Now().Add(-time.Hour)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if ok, _ := r.IsRevoked(ctx, tc.jti); ok {
				t.Fatal("revoked before RevokeJTI")
			}
			if err := r.RevokeJTI(ctx, tc.jti, tc.exp); err != nil {
				t.Fatal(err)
			}
			if ok, err := r.IsRevoked(ctx, tc.jti); !ok || err != nil {
				t.Fatalf("IsRevoked = %v, %v", ok, err)
			}
		})
	}
	if ok, _ := r.IsRevoked(ctx, "other"); ok {
		t.Fatal("unrelated jti revoked")
	}
	if _, err := NewRevocations(failStore{newMem(t)}).IsRevoked(ctx, "a"); !errors.Is(err, failure.ErrUnavailable) {
		t.Fatalf("IsRevoked on a down store: %v", err)
	}
}
