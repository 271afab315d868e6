package caddymodule

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/apigw/caddy-apigw/authn"
	"github.com/apigw/caddy-apigw/failure"
	"github.com/apigw/caddy-apigw/problem"
	"github.com/apigw/caddy-apigw/store"
)

// downStore is a store whose backend is unreachable.
type downStore struct{ store.Store }

func (downStore) Get(context.Context, string) ([]byte, error) {
	return nil, fmt.Errorf("get: %w", failure.ErrUnavailable)
}

func newTestStore(t testing.TB) *store.Memory {
	t.Helper()
	m := store.NewMemory(time.Minute)
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// authRequest returns a request as Caddy hands it to a provider: with a
// replacer and the vars holding the client IP.
func authRequest(path, clientIP string, header http.Header) *http.Request {
	r := httptest.NewRequest(http.MethodGet, path, nil)
	vars := map[string]any{caddyhttp.ClientIPVarKey: clientIP}
	*r = *r.WithContext(context.WithValue(r.Context(), caddyhttp.VarsCtxKey, vars))
	caddyhttp.NewTestReplacer(r)
	for k, v := range header {
		r.Header[k] = v
	}
	return r
}

// recordedProblem is what the renderer would show for the 401 that
// Caddy's authentication handler returns after our provider said no.
func recordedProblem(r *http.Request) *problem.Problem {
	return ProblemFor(r, caddyhttp.Error(http.StatusUnauthorized, fmt.Errorf("not authenticated")))
}

const demoKeyHash = "0b2c109e25ac7d47cc0c56f999832031c7391890ee1893f299b5df9a9256f1d1" // demo-key-1

func provisionAPIKey(t testing.TB, a *APIKeyAuth, st store.Store) *APIKeyAuth {
	t.Helper()
	if err := a.provision(zap.NewNop(), st); err != nil {
		t.Fatalf("provision: %v", err)
	}
	t.Cleanup(func() { _ = a.Cleanup() })
	return a
}

func TestAPIKeyAuthenticate(t *testing.T) {
	st := newTestStore(t)
	a := provisionAPIKey(t, &APIKeyAuth{
		Keys: []APIKey{
			{Hash: demoKeyHash, User: "demo-user", ID: "demo-key-1", Scopes: []string{"read"}, Metadata: map[string]string{"tier": "gold"}},
			{Hash: authn.HashKeyHex("old-key"), User: "old", ID: "old", Expires: "2020-01-01T00:00:00Z"},
			{Hash: authn.HashKeyHex("net-key"), User: "net", ID: "net", AllowCIDRs: []string{"10.0.0.0/8"}},
			{Hash: authn.HashKeyHex("revoked-key"), User: "rev", ID: "revoked"},
		},
		IdentityHeaders: IdentityHeaders{Claims: map[string]string{"key_id": "X-Auth-Key-Id"}},
	}, st)
	ks := authn.NewKeyStore(st)
	ctx := context.Background()
	_, runtimeKey, err := ks.Create(ctx, authn.NewKey{User: "svc", Scopes: []string{"write"}})
	if err != nil {
		t.Fatal(err)
	}
	_, revokedRuntime, err := ks.Create(ctx, authn.NewKey{User: "svc2"})
	if err != nil {
		t.Fatal(err)
	}
	list, _ := ks.List(ctx)
	for _, rec := range list {
		if rec.User == "svc2" || rec.ID == "revoked" {
			if found, err := ks.Revoke(ctx, rec.ID); !found || err != nil {
				t.Fatalf("revoke %s: %v %v", rec.ID, found, err)
			}
		}
	}

	for _, tc := range []struct {
		name     string
		header   http.Header
		ip       string
		wantUser string
		wantCode string
	}{
		{"valid", http.Header{"X-Api-Key": {"demo-key-1"}}, "127.0.0.1", "demo-user", ""},
		{"missing", nil, "127.0.0.1", "", problem.CodeMissingCredentials},
		{"empty", http.Header{"X-Api-Key": {""}}, "127.0.0.1", "", problem.CodeMissingCredentials},
		{"wrong", http.Header{"X-Api-Key": {"demo-key-2"}}, "127.0.0.1", "", problem.CodeInvalidAPIKey},
		{"the hash itself", http.Header{"X-Api-Key": {demoKeyHash}}, "127.0.0.1", "", problem.CodeInvalidAPIKey},
		{"two headers", http.Header{"X-Api-Key": {"demo-key-1", "demo-key-1"}}, "127.0.0.1", "", problem.CodeInvalidAPIKey},
		{"expired", http.Header{"X-Api-Key": {"old-key"}}, "127.0.0.1", "", problem.CodeInvalidAPIKey},
		{"cidr allowed", http.Header{"X-Api-Key": {"net-key"}}, "10.1.2.3", "net", ""},
		{"cidr denied", http.Header{"X-Api-Key": {"net-key"}}, "127.0.0.1", "", problem.CodeInvalidAPIKey},
		{"revoked config key", http.Header{"X-Api-Key": {"revoked-key"}}, "127.0.0.1", "", problem.CodeInvalidAPIKey},
		{"runtime key", http.Header{"X-Api-Key": {runtimeKey}}, "127.0.0.1", "svc", ""},
		{"revoked runtime key", http.Header{"X-Api-Key": {revokedRuntime}}, "127.0.0.1", "", problem.CodeInvalidAPIKey},
		{"client-sent identity is stripped", http.Header{"X-Api-Key": {"demo-key-1"}, "X-Auth-User": {"root"}, "X-Auth-Key-Id": {"x"}}, "127.0.0.1", "demo-user", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := authRequest("/key/x", tc.ip, tc.header)
			user, ok, err := a.Authenticate(httptest.NewRecorder(), r)
			if err != nil {
				t.Fatalf("error: %v", err)
			}
			if tc.wantCode != "" {
				if ok {
					t.Fatalf("accepted as %+v", user)
				}
				p := recordedProblem(r)
				if p.Code != tc.wantCode || p.Status != http.StatusUnauthorized {
					t.Fatalf("problem %d %s, want 401 %s", p.Status, p.Code, tc.wantCode)
				}
				if got := p.Header.Get("WWW-Authenticate"); got != `ApiKey header="X-API-Key"` {
					t.Fatalf("WWW-Authenticate %q", got)
				}
				return
			}
			if !ok || user.ID != tc.wantUser {
				t.Fatalf("got %+v %v, want %s", user, ok, tc.wantUser)
			}
			if r.Header.Get("X-API-Key") != "" {
				t.Fatal("key header not removed before proxying")
			}
			if r.Header.Get("X-Auth-User") != tc.wantUser || r.Header.Get("X-Auth-Method") != "api_key" {
				t.Fatalf("identity headers %v", r.Header)
			}
			if id := IdentityOf(r); id == nil || id.ID != tc.wantUser {
				t.Fatalf("identity %+v", id)
			}
			if tc.wantUser == "demo-user" {
				if r.Header.Get("X-Auth-Key-Id") != "demo-key-1" || userPlaceholder(r, "tier") != "gold" || userPlaceholder(r, "scope") != "read" {
					t.Fatalf("metadata tier %q scope %q, headers %v", userPlaceholder(r, "tier"), userPlaceholder(r, "scope"), r.Header)
				}
			}
		})
	}
}

func TestAPIKeyOptions(t *testing.T) {
	st := newTestStore(t)
	a := provisionAPIKey(t, &APIKeyAuth{
		Keys:               []APIKey{{Hash: demoKeyHash, User: "u"}},
		Header:             "X-Gateway-Key",
		PassCredential:     true,
		DisableRuntimeKeys: true,
	}, st)
	_, runtimeKey, _ := authn.NewKeyStore(st).Create(context.Background(), authn.NewKey{User: "svc"})

	r := authRequest("/", "127.0.0.1", http.Header{"X-Gateway-Key": {"demo-key-1"}})
	if _, ok, _ := a.Authenticate(httptest.NewRecorder(), r); !ok {
		t.Fatal("custom header key rejected")
	}
	if r.Header.Get("X-Gateway-Key") != "demo-key-1" {
		t.Fatal("pass_credential: key header removed")
	}
	r = authRequest("/", "127.0.0.1", http.Header{"X-Api-Key": {"demo-key-1"}})
	if _, ok, _ := a.Authenticate(httptest.NewRecorder(), r); ok || recordedProblem(r).Code != problem.CodeMissingCredentials {
		t.Fatal("default header used although another is configured")
	}
	r = authRequest("/", "127.0.0.1", http.Header{"X-Gateway-Key": {runtimeKey}})
	if _, ok, _ := a.Authenticate(httptest.NewRecorder(), r); ok {
		t.Fatal("runtime key accepted with no_runtime_keys")
	}
	if got := recordedProblem(r).Header.Get("WWW-Authenticate"); got != `ApiKey header="X-Gateway-Key"` {
		t.Fatalf("challenge %q", got)
	}
}

func TestAPIKeyStoreDownFailsClosed(t *testing.T) {
	a := provisionAPIKey(t, &APIKeyAuth{Keys: []APIKey{{Hash: demoKeyHash, User: "u"}}}, downStore{newTestStore(t)})
	for _, key := range []string{"demo-key-1", authn.KeyPrefix + "runtime"} {
		r := authRequest("/", "127.0.0.1", http.Header{"X-Api-Key": {key}})
		_, ok, err := a.Authenticate(httptest.NewRecorder(), r)
		if ok || err != nil {
			t.Fatalf("%s: ok=%v err=%v", key, ok, err)
		}
		if p := recordedProblem(r); p.Status != http.StatusServiceUnavailable || p.Code != problem.CodeServiceUnavailable {
			t.Fatalf("%s: problem %d %s, want 503", key, p.Status, p.Code)
		}
	}
}

func TestAPIKeyProvisionErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		a    APIKeyAuth
	}{
		{"plain key instead of hash", APIKeyAuth{Keys: []APIKey{{Hash: "demo-key-1", User: "u"}}}},
		{"no user", APIKeyAuth{Keys: []APIKey{{Hash: demoKeyHash}}}},
		{"bad cidr", APIKeyAuth{Keys: []APIKey{{Hash: demoKeyHash, User: "u", AllowCIDRs: []string{"nope"}}}}},
		{"bad expiry", APIKeyAuth{Keys: []APIKey{{Hash: demoKeyHash, User: "u", Expires: "2020-01-01"}}}},
		{"duplicate id", APIKeyAuth{Keys: []APIKey{{Hash: demoKeyHash, User: "u"}, {Hash: authn.HashKeyHex("x"), User: "u"}}}},
		{"bad header", APIKeyAuth{Keys: []APIKey{{Hash: demoKeyHash, User: "u"}}, Header: "X Key"}},
		{"nothing can authenticate", APIKeyAuth{DisableRuntimeKeys: true}},
		{"bad identity header", APIKeyAuth{Keys: []APIKey{{Hash: demoKeyHash, User: "u"}}, IdentityHeaders: IdentityHeaders{User: "a b"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := tc.a
			if err := a.provision(zap.NewNop(), newTestStore(t)); err == nil {
				t.Fatal("provisioned")
			}
			_ = a.Cleanup()
		})
	}
}

// TestAPIKeyModuleInfo checks the module id users write in JSON.
func TestAPIKeyModuleInfo(t *testing.T) {
	if id := (APIKeyAuth{}).CaddyModule().ID; id != "http.authentication.providers.apigw_api_key" {
		t.Fatal(id)
	}
	if _, err := caddy.GetModule("http.authentication.providers.apigw_api_key"); err != nil {
		t.Fatal(err)
	}
}
