package authn

import (
	"github.com/apigw/caddy-apigw/internal/testutil"
	"runtime"
	"strconv"
	"testing"
)

// TestTokenCacheScale verifies 10k distinct tokens (typical claims: sub,
// exp, iss, aud, scope, email) through VerifyIdentity, logs the heap the
// cached claims and identities cost (docs/GUIDE.md, "Scaling"), then
// twice as many: the cache never holds more than its size.
func TestTokenCacheScale(t *testing.T) {
	if testing.Short() {
		t.Skip("signs 20k tokens")
	}
	const n = DefaultVerifiedCacheSize
	toks := make([]string, 2*n)
	for i := range toks {
		toks[i] = sign(t, "HS256", []byte(testSecret), claims(map[string]any{"sub": "user-" + strconv.Itoa(i),
			"iss": "https://idp.example.com", "aud": "caddy-apigw-demo", "scope": "read write",
			"email": "user" + strconv.Itoa(i) + "@example.com"}), nil)
	}
	v := mustVerifier(t, JWTConfig{Secret: []byte(testSecret), CacheTTL: DefaultVerifiedCacheTTL})
	before := testutil.HeapInUse()
	for _, tok := range toks[:n] {
		if _, _, err := v.VerifyIdentity(tok, ""); err != nil {
			t.Fatal(err)
		}
	}
	after := testutil.HeapInUse()
	t.Logf("token cache: %d tokens, %.1f MiB heap, %d bytes per token", v.cache.len(), float64(after-before)/(1<<20), (after-before)/uint64(v.cache.len()))
	for _, tok := range toks[n:] {
		if _, _, err := v.VerifyIdentity(tok, ""); err != nil {
			t.Fatal(err)
		}
	}
	if l := v.cache.len(); l > n {
		t.Fatalf("%d tokens cached, size %d", l, n)
	}
	runtime.KeepAlive(toks)
}
