package authn

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// sameMap reports whether two claims maps are the same map (a cache hit
// returns the map stored at the first verification).
func sameMap(a, b jwt.MapClaims) bool {
	return a != nil && b != nil && reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}

// cachedVerifier returns an HS256 verifier with the cache on and a
// settable clock.
func cachedVerifier(t *testing.T, ttl time.Duration, size int, leeway time.Duration) (*JWTVerifier, *fakeClock) {
	t.Helper()
	clk := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	v := mustVerifier(t, JWTConfig{Secret: []byte(testSecret), CacheTTL: ttl, CacheSize: size, Leeway: leeway, Now: clk.now})
	return v, clk
}

func TestVerifiedTokenCache(t *testing.T) {
	const leeway = 5 * time.Second
	for _, tc := range []struct {
		name string
		// claims relative to the clock's start
		exp, nbf time.Duration
		noExp    bool
		// clock moves between the first and the second Verify
		advance time.Duration
		// want of the second Verify: hit (same claims), miss (accepted,
		// verified again) or the rejection code
		want string
	}{
		{name: "hit", exp: time.Hour, advance: time.Second, want: "hit"},
		{name: "hit just before exp", exp: 30 * time.Second, advance: 29 * time.Second, want: "hit"},
		{name: "past exp within leeway: verified again", exp: 30 * time.Second, advance: 32 * time.Second, want: "miss"},
		{name: "expired while cached", exp: 30 * time.Second, advance: 36 * time.Second, want: CodeTokenExpired},
		{name: "ttl over: verified again", exp: time.Hour, advance: 61 * time.Second, want: "miss"},
		{name: "no exp: ttl bounds the entry", noExp: true, advance: 61 * time.Second, want: "miss"},
		{name: "no exp: hit within ttl", noExp: true, advance: 59 * time.Second, want: "hit"},
		// a clock stepping back before nbf: the hit re-checks nbf
		{name: "nbf re-checked on a hit", exp: time.Hour, nbf: -time.Second, advance: -time.Minute, want: CodeInvalidToken},
		{name: "nbf within leeway", exp: time.Hour, nbf: -time.Second, advance: -4 * time.Second, want: "hit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := &fakeClock{t: time.Unix(1_800_000_000, 0)}
			v := mustVerifier(t, JWTConfig{Secret: []byte(testSecret), CacheTTL: time.Minute, Leeway: leeway, AllowMissingExp: true, Now: clk.now})
			c := jwt.MapClaims{"sub": "alice", "iat": clk.now().Add(-time.Minute).Unix()}
			if !tc.noExp {
				c["exp"] = clk.now().Add(tc.exp).Unix()
			}
			if tc.nbf != 0 {
				c["nbf"] = clk.now().Add(tc.nbf).Unix()
			}
			tok := sign(t, "HS256", []byte(testSecret), c, nil)
			first, err := v.Verify(tok)
			if err != nil {
				t.Fatalf("first Verify: %v", err)
			}
			if v.cache.len() != 1 {
				t.Fatalf("cache holds %d entries after a valid token, want 1", v.cache.len())
			}
			clk.add(tc.advance)
			second, err := v.Verify(tok)
			switch tc.want {
			case "hit", "miss":
				if err != nil {
					t.Fatalf("second Verify: %v", err)
				}
				if hit := sameMap(first, second); hit != (tc.want == "hit") {
					t.Fatalf("cache hit = %v, want %s", hit, tc.want)
				}
			default:
				expectReject(t, v, tok, tc.want, "")
			}
		})
	}
}

// TestVerifiedTokenCacheNeverCachesRejects: rejected tokens (and valid
// ones too large to cache) leave the cache empty.
func TestVerifiedTokenCacheNeverCachesRejects(t *testing.T) {
	v, clk := cachedVerifier(t, time.Minute, 100, 0)
	now := clk.now()
	valid := jwt.MapClaims{"sub": "alice", "exp": now.Add(time.Hour).Unix()}
	good := sign(t, "HS256", []byte(testSecret), valid, nil)
	for _, tc := range []struct {
		name, token, code string
	}{
		{"bad signature", good[:len(good)-2] + flip(good[len(good)-2]) + good[len(good)-1:], CodeInvalidToken},
		{"other secret", sign(t, "HS256", []byte(testSecret+"x"), valid, nil), CodeInvalidToken},
		{"expired", sign(t, "HS256", []byte(testSecret), jwt.MapClaims{"sub": "a", "exp": now.Add(-time.Hour).Unix()}, nil), CodeTokenExpired},
		{"not yet valid", sign(t, "HS256", []byte(testSecret), jwt.MapClaims{"sub": "a", "exp": now.Add(time.Hour).Unix(), "nbf": now.Add(time.Minute).Unix()}, nil), CodeInvalidToken},
		{"no exp", sign(t, "HS256", []byte(testSecret), jwt.MapClaims{"sub": "a"}, nil), CodeInvalidToken},
		{"alg not allowed", sign(t, "HS384", []byte(testSecret), valid, nil), CodeInvalidToken},
		{"malformed", "a.b.c", CodeInvalidToken},
		{"valid but too large to cache", sign(t, "HS256", []byte(testSecret), jwt.MapClaims{"sub": "a", "exp": now.Add(time.Hour).Unix(), "pad": strings.Repeat("x", MaxCachedTokenLen)}, nil), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range 2 {
				if tc.code == "" {
					if _, err := v.Verify(tc.token); err != nil {
						t.Fatal(err)
					}
					continue
				}
				expectReject(t, v, tc.token, tc.code, "")
			}
			if n := v.cache.len(); n != 0 {
				t.Fatalf("cache holds %d entries after a rejected token", n)
			}
		})
	}
}

func TestVerifiedTokenCacheDisabled(t *testing.T) {
	for _, tc := range []struct {
		name string
		ttl  time.Duration
	}{{"zero ttl", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			v, _ := cachedVerifier(t, tc.ttl, 0, 0)
			if v.cache != nil {
				t.Fatal("cache built with ttl 0")
			}
			tok := sign(t, "HS256", []byte(testSecret), jwt.MapClaims{"sub": "a", "exp": time.Unix(1_800_003_600, 0).Unix()}, nil)
			a, err := v.Verify(tok)
			if err != nil {
				t.Fatal(err)
			}
			b, err := v.Verify(tok)
			if err != nil {
				t.Fatal(err)
			}
			if sameMap(a, b) {
				t.Fatal("claims shared with the cache disabled")
			}
		})
	}
	for _, cfg := range []JWTConfig{
		{Secret: []byte(testSecret), CacheTTL: -time.Second},
		{Secret: []byte(testSecret), CacheTTL: time.Second, CacheSize: -1},
	} {
		if _, err := NewJWTVerifier(cfg); err == nil {
			t.Errorf("NewJWTVerifier accepted ttl %v size %d", cfg.CacheTTL, cfg.CacheSize)
		}
	}
}

// TestVerifiedTokenCacheBounded floods the cache with distinct valid
// tokens: it never holds more than its size, and keeps working.
func TestVerifiedTokenCacheBounded(t *testing.T) {
	for _, size := range []int{1, 10, 64, 100} {
		t.Run(fmt.Sprint("size ", size), func(t *testing.T) {
			v, clk := cachedVerifier(t, time.Minute, size, 0)
			exp := clk.now().Add(time.Hour).Unix()
			var last string
			for i := range 1000 {
				last = sign(t, "HS256", []byte(testSecret), jwt.MapClaims{"sub": fmt.Sprint("user-", i), "exp": exp}, nil)
				if _, err := v.Verify(last); err != nil {
					t.Fatal(err)
				}
				if n := v.cache.len(); n > size {
					t.Fatalf("cache holds %d entries after %d tokens, bound %d", n, i+1, size)
				}
			}
			a, _ := v.Verify(last)
			b, err := v.Verify(last)
			if err != nil || !sameMap(a, b) {
				t.Fatalf("the latest token is not served from the cache (err %v)", err)
			}
		})
	}
}

// TestVerifiedTokenCacheKeySetChange: a JWKS refresh that drops or
// replaces the token's key makes its cache entry a miss, so the token is
// verified against the new set and refused; a refresh that keeps or only
// adds keys does not flush the cache.
func TestVerifiedTokenCacheKeySetChange(t *testing.T) {
	k := keys(t)
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	a := jwkOf(t, "a", "ES256", &k.p256.PublicKey)
	b := jwkOf(t, "b", "ES256", &other.PublicKey)
	for _, tc := range []struct {
		name    string
		next    []map[string]any
		wantHit bool
	}{
		{"same set", []map[string]any{a}, true},
		{"key added", []map[string]any{a, b}, true},
		{"key dropped", []map[string]any{b}, false},
		{"key replaced under the same kid", []map[string]any{jwkOf(t, "a", "ES256", &other.PublicKey)}, false},
		{"key alg changed", []map[string]any{jwkOf(t, "a", "ES384", &k.p256.PublicKey), b}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newJWKSServer(t, a)
			j, _ := newTestJWKS(t, srv.URL)
			v := mustVerifier(t, JWTConfig{JWKS: j, Algorithms: []string{"ES256"}, CacheTTL: time.Minute})
			tok := sign(t, "ES256", k.p256, claims(nil), map[string]any{"kid": "a"})
			first, err := v.Verify(tok)
			if err != nil {
				t.Fatal(err)
			}
			gen := j.Generation()
			srv.set(tc.next...)
			if err := j.refresh(false); err != nil {
				t.Fatal(err)
			}
			if changed := j.Generation() != gen; changed == tc.wantHit {
				t.Fatalf("generation changed = %v, want %v", changed, !tc.wantHit)
			}
			second, err := v.Verify(tok)
			if tc.wantHit {
				if err != nil || !sameMap(first, second) {
					t.Fatalf("want a cache hit, got err %v, hit %v", err, sameMap(first, second))
				}
				return
			}
			expectReject(t, v, tok, CodeInvalidToken, "")
		})
	}
}

func TestDropsKey(t *testing.T) {
	k := keys(t)
	a := JWK{Kid: "a", Alg: "ES256", Key: &k.p256.PublicKey}
	aCopy := JWK{Kid: "a", Alg: "ES256", Key: &ecdsa.PublicKey{Curve: k.p256.Curve, X: k.p256.X, Y: k.p256.Y}}
	r := JWK{Kid: "r", Key: &k.rsa.PublicKey}
	e := JWK{Kid: "e", Key: k.ed.Public().(crypto.PublicKey)}
	for _, tc := range []struct {
		name     string
		old, cur []JWK
		want     bool
	}{
		{"empty to keys", nil, []JWK{a}, false},
		{"equal copy", []JWK{a, r, e}, []JWK{e, r, aCopy}, false},
		{"added", []JWK{a}, []JWK{a, r}, false},
		{"dropped", []JWK{a, r}, []JWK{a}, true},
		{"kid renamed", []JWK{a}, []JWK{{Kid: "z", Alg: "ES256", Key: a.Key}}, true},
		{"alg changed", []JWK{a}, []JWK{{Kid: "a", Alg: "ES384", Key: a.Key}}, true},
		{"key replaced", []JWK{r}, []JWK{{Kid: "r", Key: &k.rsa2.PublicKey}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := dropsKey(tc.old, tc.cur); got != tc.want {
				t.Fatalf("dropsKey = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestVerifiedTokenCacheConcurrent runs hits, misses and evictions from
// many goroutines (meaningful under -race).
func TestVerifiedTokenCacheConcurrent(t *testing.T) {
	v, clk := cachedVerifier(t, time.Minute, 32, 0)
	exp := clk.now().Add(time.Hour).Unix()
	toks := make([]string, 64)
	for i := range toks {
		toks[i] = sign(t, "HS256", []byte(testSecret), jwt.MapClaims{"sub": fmt.Sprint("u", i), "exp": exp}, nil)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				tok := toks[(i*(g+1))%len(toks)]
				c, err := v.Verify(tok)
				if err == nil && c["sub"] == nil {
					err = fmt.Errorf("claims without sub")
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := v.cache.len(); n > 32 {
		t.Fatalf("cache holds %d entries, bound 32", n)
	}
}

// VerifyIdentity builds the identity once per cached token and hands the
// same one to every later request; another user claim gets its own.
func TestVerifyIdentityShared(t *testing.T) {
	v := mustVerifier(t, JWTConfig{Secret: []byte(testSecret), CacheTTL: DefaultVerifiedCacheTTL})
	tok := sign(t, "HS256", []byte(testSecret), claims(map[string]any{"scope": "read write", "email": "a@example.com"}), nil)
	first, _, err := v.VerifyIdentity(tok, "")
	if err != nil {
		t.Fatal(err)
	}
	again, _, err := v.VerifyIdentity(tok, "")
	if err != nil {
		t.Fatal(err)
	}
	if first != again {
		t.Fatal("a cache hit built a new identity")
	}
	if !again.HasScope("write") || again.Claims["email"] != "a@example.com" {
		t.Fatalf("identity %+v", again)
	}
	byEmail, _, err := v.VerifyIdentity(tok, "email")
	if err != nil {
		t.Fatal(err)
	}
	if byEmail.ID != "a@example.com" {
		t.Fatalf("user claim email: id %q", byEmail.ID)
	}
	if _, _, err := v.VerifyIdentity(tok, "missing"); err == nil {
		t.Fatal("a token without the user claim was accepted from the cache")
	}
	uncached := mustVerifier(t, JWTConfig{Secret: []byte(testSecret)})
	a, _, err := uncached.VerifyIdentity(tok, "")
	if err != nil {
		t.Fatal(err)
	}
	if b, _, _ := uncached.VerifyIdentity(tok, ""); a == b {
		t.Fatal("without a cache, identities must not be shared")
	}
}
