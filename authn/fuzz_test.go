package authn

import (
	"crypto"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// FuzzParseToken feeds arbitrary strings to a verifier that allows HMAC
// and ECDSA. Nothing may panic, and nothing but the one token signed with
// the right key may verify. The seed corpus runs as a normal test.
func FuzzParseToken(f *testing.F) {
	k := keys(f)
	v := mustVerifier(f, JWTConfig{
		Secret:     []byte(testSecret),
		PublicKeys: []crypto.PublicKey{&k.p256.PublicKey},
		Algorithms: []string{"HS256", "ES256"},
	})
	valid := sign(f, "HS256", []byte(testSecret), claims(nil), nil)
	for _, seed := range []string{
		valid,
		sign(f, "ES256", k.p256, claims(nil), nil),
		sign(f, "HS256", []byte("wrong-secret-0123456789abcdef0123456789"), claims(nil), nil),
		sign(f, "HS512", []byte(testSecret), claims(nil), nil),
		"", ".", "..", "a.b.c", "eyJhbGciOiJub25lIn0.e30.", "eyJhbGciOiJIUzI1NiJ9.bnVsbA.",
		"eyJhbGciOiJIUzI1NiIsImtpZCI6WzEsMl19.e30.x",
		strings.Repeat("A", 100) + "." + strings.Repeat("B", 100) + ".",
		valid + "x", valid[:len(valid)-1],
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := v.Verify(tok)
		if err == nil {
			// only tokens we signed verify (the fuzzer cannot forge a
			// signature), and all of those carry our subject
			if c["sub"] != "alice" {
				t.Fatalf("forged token accepted: %q", tok)
			}
			return
		}
		if _, _, ok := codeOf(err); !ok {
			t.Fatalf("error of type %T: %v", err, err)
		}
	})
}

// FuzzAPIKey checks that only the configured key matches, for any input.
func FuzzAPIKey(f *testing.F) {
	ks := mustKeySet(f, ConfigKey{Hash: HashKey("demo-key-1"), Record: KeyRecord{ID: "k", User: "u"}})
	for _, seed := range []string{"demo-key-1", "demo-key-", "demo-key-1 ", "DEMO-KEY-1", "", "\x00", HashKeyHex("demo-key-1")} {
		f.Add(seed)
	}
	addr := netip.MustParseAddr("127.0.0.1")
	now := time.Now()
	f.Fuzz(func(t *testing.T, key string) {
		got, id, _ := ks.Match(key, addr, now)
		if (got == KeyValid) != (key == "demo-key-1") {
			t.Fatalf("Match(%q) = %v", key, got)
		}
		if got == KeyValid && id.ID != "u" {
			t.Fatalf("identity %+v", id)
		}
		if _, err := ParseKeyHash(key); err == nil && len(key) != 64 {
			t.Fatalf("ParseKeyHash accepted %q", key)
		}
	})
}

// FuzzParseJWKS: arbitrary key sets never panic and never yield a key
// that is not an asymmetric public key.
func FuzzParseJWKS(f *testing.F) {
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"Ti9WkLVgtutDih1-8FRUQcjWogGUzLcFB0vbZwy-E80","y":"yndnHXP5YnT7U6FVImmT3hVx23ZEYEM-YLBuSSSedx0"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, err := ParseJWKS(data)
		if err != nil {
			return
		}
		for _, k := range keys {
			if defaultAlg(k.Key) == "" {
				t.Fatalf("unexpected key type %T", k.Key)
			}
		}
	})
}
