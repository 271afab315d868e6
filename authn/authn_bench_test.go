package authn

import (
	"crypto"
	"net/netip"
	"testing"
	"time"
)

func BenchmarkKeySetMatch(b *testing.B) {
	cks := make([]ConfigKey, 0, 100)
	for i := 0; i < 100; i++ {
		k := "key-" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		cks = append(cks, ConfigKey{Hash: HashKey(k), Record: KeyRecord{ID: k, User: "u"}})
	}
	cks = append(cks, ConfigKey{Hash: HashKey("demo-key-1"), Record: KeyRecord{ID: "demo", User: "u"},
		AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	ks := mustKeySet(b, cks...)
	addr := netip.MustParseAddr("127.0.0.1")
	now := time.Now()
	for _, bc := range []struct{ name, key string }{{"hit", "demo-key-1"}, {"miss", "not-a-key"}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ks.Match(bc.key, addr, now)
			}
		})
	}
}

// BenchmarkJWTVerify measures full verification per algorithm, and the
// verified-token cache hit ("/cached": the same token again).
func BenchmarkJWTVerify(b *testing.B) {
	k := keys(b)
	for _, bc := range []struct {
		name string
		alg  string
		sign any
		cfg  JWTConfig
	}{
		{"HS256", "HS256", []byte(testSecret), JWTConfig{Secret: []byte(testSecret)}},
		{"ES256", "ES256", k.p256, JWTConfig{PublicKeys: []crypto.PublicKey{&k.p256.PublicKey}}},
		{"RS256", "RS256", k.rsa, JWTConfig{PublicKeys: []crypto.PublicKey{&k.rsa.PublicKey}}},
		{"EdDSA", "EdDSA", k.ed, JWTConfig{PublicKeys: []crypto.PublicKey{k.ed.Public()}}},
		{"HS256/cached", "HS256", []byte(testSecret), JWTConfig{Secret: []byte(testSecret), CacheTTL: DefaultVerifiedCacheTTL}},
		{"ES256/cached", "ES256", k.p256, JWTConfig{PublicKeys: []crypto.PublicKey{&k.p256.PublicKey}, CacheTTL: DefaultVerifiedCacheTTL}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			v := mustVerifier(b, bc.cfg)
			tok := sign(b, bc.alg, bc.sign, claims(map[string]any{"scope": "read write", "iss": "x"}), nil)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkJWTVerifyCachedParallel is the cache hit from all cores at
// once on one token (every request of a load test in the same shard).
func BenchmarkJWTVerifyCachedParallel(b *testing.B) {
	k := keys(b)
	v := mustVerifier(b, JWTConfig{PublicKeys: []crypto.PublicKey{&k.p256.PublicKey}, CacheTTL: DefaultVerifiedCacheTTL})
	tok := sign(b, "ES256", k.p256, claims(map[string]any{"scope": "read write"}), nil)
	if _, err := v.Verify(tok); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.Verify(tok); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
