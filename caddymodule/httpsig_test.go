package caddymodule

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/apigw/caddy-apigw/failure"
	"github.com/apigw/caddy-apigw/httpsig"
	"github.com/apigw/caddy-apigw/internal/testutil"
	"github.com/apigw/caddy-apigw/problem"
	"github.com/apigw/caddy-apigw/store"
)

const demoEd25519SPKI = "MCowBQYDK2VwAyEAcw9LvxP0jZGTwODCkOQGfGvWLIfLMEcl/1YZb91Qye0="

// demoEd25519Private is the demo key's private half (test data only).
func demoEd25519Private(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testutil.NodeDir(), "demo-ed25519.test-private.pem"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(ed25519.PrivateKey)
}

// signRequest signs r (as a provider sees it) with the demo key.
func signRequest(t testing.TB, r *http.Request, keyID, components, extra string) {
	t.Helper()
	in := `sig1=(` + components + `);created=` + strconv.FormatInt(time.Now().Unix(), 10) + `;keyid="` + keyID + `"` + extra
	s, err := httpsig.ParseSignature(in, "sig1=:AA==:", "sig1")
	if err != nil {
		t.Fatal(err)
	}
	base, err := httpsig.Base(&httpsig.Request{Method: r.Method, Scheme: "http", Authority: r.Host, RequestURI: r.RequestURI, Header: r.Header}, s)
	if err != nil {
		t.Fatal(err)
	}
	sig := ed25519.Sign(demoEd25519Private(t), base)
	r.Header.Set("Signature-Input", in)
	r.Header.Set("Signature", "sig1=:"+base64.StdEncoding.EncodeToString(sig)+":")
}

func provisionHTTPSig(t testing.TB, a *HTTPSignatureAuth, st store.Store) *HTTPSignatureAuth {
	t.Helper()
	if err := a.provision(zap.NewNop(), st, time.Now); err != nil {
		t.Fatalf("provision: %v", err)
	}
	t.Cleanup(func() { _ = a.Cleanup() })
	return a
}

func TestHTTPSignatureProvisionErrors(t *testing.T) {
	dir := t.TempDir()
	priv := filepath.Join(testutil.NodeDir(), "demo-ed25519.test-private.pem")
	oct := filepath.Join(dir, "oct.json")
	_ = os.WriteFile(oct, []byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"cw9LvxP0jZGTwODCkOQGfGvWLIfLMEcl_1YZb91Qye0"}]}`), 0o600)
	for _, tc := range []struct {
		name string
		cfg  string
		want string
	}{
		{"no keys", `{}`, "no keys"},
		{"no material", `{"keys":[{"id":"k"}]}`, `key "k" has no key material`},
		{"two sources", `{"keys":[{"id":"k","public_key":"` + demoEd25519SPKI + `","secret":"` + strings.Repeat("s", 32) + `"}]}`, "give one of"},
		{"private key", `{"keys":[{"id":"k","public_key_file":"` + priv + `"}]}`, "is not a public key"},
		{"wrong algorithm for key", `{"keys":[{"id":"k","algorithm":"ecdsa-p256-sha256","public_key":"` + demoEd25519SPKI + `"}]}`, "does not fit the key"},
		{"unknown algorithm", `{"keys":[{"id":"k","algorithm":"rsa-v1_5-sha256","public_key":"` + demoEd25519SPKI + `"}]}`, "unknown algorithm"},
		{"short secret", `{"keys":[{"id":"k","secret":"short"}]}`, "use at least 32"},
		{"secret for ed25519", `{"keys":[{"id":"k","algorithm":"ed25519","secret":"` + strings.Repeat("s", 32) + `"}]}`, "a secret is for hmac-sha256"},
		{"unset env secret", `{"keys":[{"id":"k","secret":"{env.APIGW_TEST_UNSET_SECRET}"}]}`, "is the environment variable set"},
		{"jwk kid differs", `{"keys":[{"id":"k","jwk":"{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"other\",\"x\":\"cw9LvxP0jZGTwODCkOQGfGvWLIfLMEcl_1YZb91Qye0\"}"}]}`, "differs from the key id"},
		{"duplicate id", `{"keys":[{"id":"k","public_key":"` + demoEd25519SPKI + `"},{"id":"k","public_key":"` + demoEd25519SPKI + `"}]}`, "configured twice"},
		{"jwks key without kid", `{"jwks_file":"` + oct + `"}`, "has no kid"},
		{"bad label", `{"label":"Sig1","keys":[{"id":"k","public_key":"` + demoEd25519SPKI + `"}]}`, "not a structured field key"},
		{"bad required", `{"required_components":["@status"],"keys":[{"id":"k","public_key":"` + demoEd25519SPKI + `"}]}`, "cannot be required"},
		{"negative max_body", `{"max_body":-1,"keys":[{"id":"k","public_key":"` + demoEd25519SPKI + `"}]}`, "must not be negative"},
		{"insecure jwks", `{"jwks_url":"http://127.0.0.1:1/jwks.json"}`, "plain http"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var a HTTPSignatureAuth
			if err := json.Unmarshal([]byte(tc.cfg), &a); err != nil {
				t.Fatal(err)
			}
			err := a.provision(zap.NewNop(), newTestStore(t), time.Now)
			_ = a.Cleanup()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestHTTPSignatureAuthenticate(t *testing.T) {
	st := newTestStore(t)
	// the demo key three ways: inline, from a JWKS file, from a JWKS URL
	jwk, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), "examples", "demo-keys", "demo-ed25519.pub.jwk.json"))
	if err != nil {
		t.Fatal(err)
	}
	jwks := `{"keys":[` + string(jwk) + `]}`
	file := filepath.Join(t.TempDir(), "clients.json")
	if err := os.WriteFile(file, []byte(jwks), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, jwks) }))
	defer srv.Close()
	id := HTTPSignatureKey{ID: "demo-ed25519", User: "partner-a", Scopes: []string{"orders:read"}, Roles: []string{"partner"}, Metadata: map[string]string{"tier": "gold"}}
	inline := id
	inline.PublicKey = demoEd25519SPKI
	for name, a := range map[string]*HTTPSignatureAuth{
		"inline":    {Settings: httpsig.Settings{Label: "sig1", Keys: []HTTPSignatureKey{inline}}},
		"jwks_file": {Settings: httpsig.Settings{Label: "sig1", Keys: []HTTPSignatureKey{id}, JWKSFile: file}},
		"jwks_url":  {Settings: httpsig.Settings{Label: "sig1", Keys: []HTTPSignatureKey{id}, JWKSURL: srv.URL, JWKSAllowInsecureLoopback: true}},
	} {
		t.Run(name, func(t *testing.T) {
			provisionHTTPSig(t, a, st)
			body := []byte(`{"n":` + strconv.Quote(name) + `}`)
			r := authRequest("/sig/orders?x=1", "127.0.0.1", nil)
			r.Method = http.MethodPost
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.ContentLength = int64(len(body))
			sum := sha256.Sum256(body)
			r.Header.Set("Content-Digest", "sha-256=:"+base64.StdEncoding.EncodeToString(sum[:])+":")
			r.Header.Set("X-Auth-User", "forged")
			signRequest(t, r, "demo-ed25519", `"@method" "@authority" "@path" "@query" "content-digest"`, `;nonce="`+name+`"`)
			user, ok, err := a.Authenticate(httptest.NewRecorder(), r)
			if err != nil || !ok {
				t.Fatalf("refused: %v %+v", err, recordedProblem(r))
			}
			if user.ID != "partner-a" || userPlaceholder(r, "scope") != "orders:read" || userPlaceholder(r, "roles") != "partner" ||
				userPlaceholder(r, "tier") != "gold" || userPlaceholder(r, "key_id") != "demo-ed25519" || userPlaceholder(r, "method") != "http_signature" {
				t.Fatalf("user %+v", user)
			}
			if got := IdentityOf(r); got == nil || !got.HasScope("orders:read") || !got.HasRole("partner") {
				t.Fatalf("identity %+v", got)
			}
			if r.Header.Get("X-Auth-User") != "partner-a" || r.Header.Get("Signature") != "" || r.Header.Get("Signature-Input") != "" {
				t.Fatalf("upstream headers %v", r.Header)
			}
			got, _ := io.ReadAll(r.Body)
			if !bytes.Equal(got, body) || r.ContentLength != int64(len(body)) {
				t.Fatalf("body passed on %q", got)
			}
			// the same nonce again
			r2 := authRequest("/sig/orders", "127.0.0.1", nil)
			signRequest(t, r2, "demo-ed25519", `"@method" "@authority" "@path"`, `;nonce="`+name+`"`)
			if _, ok, _ := a.Authenticate(httptest.NewRecorder(), r2); ok {
				t.Fatal("nonce accepted twice")
			}
			if p := recordedProblem(r2); p.Code != problem.CodeReplayedRequest || p.Status != 401 {
				t.Fatalf("problem %+v", p)
			}
		})
	}
}

func TestHTTPSignatureFailures(t *testing.T) {
	a := provisionHTTPSig(t, &HTTPSignatureAuth{PassHeaders: true, Settings: httpsig.Settings{Label: "sig1", MaxBody: 16,
		Keys: []HTTPSignatureKey{{ID: "demo-ed25519", PublicKey: demoEd25519SPKI}}}}, newTestStore(t))

	// unsigned: the challenge and what to sign
	r := authRequest("/sig/x?q=1", "127.0.0.1", nil)
	if _, ok, err := a.Authenticate(httptest.NewRecorder(), r); ok || err != nil {
		t.Fatalf("%v %v", ok, err)
	}
	p := recordedProblem(r)
	if p.Code != problem.CodeInvalidSignature || p.Header.Get("WWW-Authenticate") != `Signature label="sig1"` ||
		p.Header.Get("Accept-Signature") != `sig1=("@method" "@authority" "@path" "@query");created` {
		t.Fatalf("problem %+v %v", p, p.Header)
	}

	// a body over max_body, with a digest to check: 413, body still intact
	body := []byte(strings.Repeat("b", 17))
	r = authRequest("/sig/x", "127.0.0.1", nil)
	r.Method = http.MethodPost
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = -1
	r.Header.Set("Content-Digest", "sha-256=:AA==:")
	signRequest(t, r, "demo-ed25519", `"@method" "@authority" "@path" "content-digest"`, "")
	if _, ok, _ := a.Authenticate(httptest.NewRecorder(), r); ok {
		t.Fatal("accepted")
	}
	if p := recordedProblem(r); p.Status != http.StatusRequestEntityTooLarge || p.Code != problem.CodePayloadTooLarge {
		t.Fatalf("problem %+v", p)
	}

	// pass_headers keeps the signature for the upstream
	r = authRequest("/sig/x", "127.0.0.1", nil)
	signRequest(t, r, "demo-ed25519", `"@method" "@authority" "@path"`, "")
	if _, ok, _ := a.Authenticate(httptest.NewRecorder(), r); !ok {
		t.Fatalf("refused: %+v", recordedProblem(r))
	}
	if r.Header.Get("Signature") == "" || r.Header.Get("Signature-Input") == "" {
		t.Fatal("pass_headers removed the signature")
	}

	// without a nonce: the same signed request once by default, again and
	// again with allow_repeat_without_nonce
	r = authRequest("/sig/same", "127.0.0.1", nil)
	signRequest(t, r, "demo-ed25519", `"@method" "@authority" "@path"`, "")
	for i, want := range []bool{true, false} {
		r2 := authRequest("/sig/same", "127.0.0.1", nil)
		r2.Header = r.Header.Clone()
		if _, ok, _ := a.Authenticate(httptest.NewRecorder(), r2); ok != want {
			t.Fatalf("use %d: accepted %v", i+1, ok)
		}
	}
	rep := provisionHTTPSig(t, &HTTPSignatureAuth{Settings: httpsig.Settings{AllowRepeatWithoutNonce: true,
		Keys: []HTTPSignatureKey{{ID: "demo-ed25519", PublicKey: demoEd25519SPKI}}}}, newTestStore(t))
	for i := range 2 {
		r2 := authRequest("/sig/same", "127.0.0.1", nil)
		r2.Header = r.Header.Clone()
		if _, ok, _ := rep.Authenticate(httptest.NewRecorder(), r2); !ok {
			t.Fatalf("use %d refused: %+v", i+1, recordedProblem(r2))
		}
	}
	r2 := authRequest("/sig/same", "127.0.0.1", nil)
	signRequest(t, r2, "demo-ed25519", `"@method" "@authority" "@path"`, `;nonce="once"`)
	for i, want := range []bool{true, false} {
		r3 := authRequest("/sig/same", "127.0.0.1", nil)
		r3.Header = r2.Header.Clone()
		if _, ok, _ := rep.Authenticate(httptest.NewRecorder(), r3); ok != want {
			t.Fatalf("nonce use %d: accepted %v", i+1, ok)
		}
	}

	// the replay store down: 503, not 401
	b := provisionHTTPSig(t, &HTTPSignatureAuth{Settings: httpsig.Settings{Keys: []HTTPSignatureKey{{ID: "demo-ed25519", PublicKey: demoEd25519SPKI}}}}, failingSetNX{newTestStore(t)})
	r = authRequest("/sig/x", "127.0.0.1", nil)
	signRequest(t, r, "demo-ed25519", `"@method" "@authority" "@path"`, "")
	if _, ok, _ := b.Authenticate(httptest.NewRecorder(), r); ok {
		t.Fatal("accepted")
	}
	if p := recordedProblem(r); p.Status != http.StatusServiceUnavailable {
		t.Fatalf("problem %+v", p)
	}
}

// failingSetNX is a store whose SetNX fails as an unreachable Redis does.
type failingSetNX struct{ store.Store }

func (failingSetNX) SetNX(context.Context, string, []byte, time.Duration) (bool, error) {
	return false, failure.ErrUnavailable
}

// TestHTTPSignatureJWKSRotation: a key added to the JWKS URL after
// provision works on its first use (the unknown key id triggers one
// refetch), and a JWK whose alg contradicts the pinned algorithm is not
// used.
func TestHTTPSignatureJWKSRotation(t *testing.T) {
	jwk, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), "examples", "demo-keys", "demo-ed25519.pub.jwk.json"))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	set := `{"keys":[]}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		_, _ = io.WriteString(w, set)
	}))
	defer srv.Close()
	a := provisionHTTPSig(t, &HTTPSignatureAuth{Settings: httpsig.Settings{JWKSURL: srv.URL, JWKSAllowInsecureLoopback: true}}, newTestStore(t))
	mu.Lock()
	set = `{"keys":[` + string(jwk) + `]}`
	mu.Unlock()
	r := authRequest("/sig/x", "127.0.0.1", nil)
	signRequest(t, r, "demo-ed25519", `"@method" "@authority" "@path"`, "")
	user, ok, _ := a.Authenticate(httptest.NewRecorder(), r)
	if !ok || user.ID != "demo-ed25519" || userPlaceholder(r, "key_id") != "demo-ed25519" {
		t.Fatalf("rotated-in key refused: %v %+v", ok, recordedProblem(r))
	}

	pinned := provisionHTTPSig(t, &HTTPSignatureAuth{Settings: httpsig.Settings{JWKSURL: srv.URL, JWKSAllowInsecureLoopback: true,
		Keys: []HTTPSignatureKey{{ID: "demo-ed25519", Algorithm: "ecdsa-p256-sha256"}}}}, newTestStore(t))
	r = authRequest("/sig/y", "127.0.0.1", nil)
	signRequest(t, r, "demo-ed25519", `"@method" "@authority" "@path"`, "")
	if _, ok, _ := pinned.Authenticate(httptest.NewRecorder(), r); ok {
		t.Fatal("a key of another algorithm than the pinned one was used")
	}
	if p := recordedProblem(r); !strings.Contains(p.Detail, "keyid names no key") {
		t.Fatalf("problem %+v", p)
	}
}
