package caddymodule

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"go.uber.org/zap"

	"github.com/apigw/caddy-apigw/authn"
	"github.com/apigw/caddy-apigw/problem"
)

// fakeIntrospection is an RFC 7662 endpoint answering from answers (token
// → JSON object); unknown tokens are inactive. It counts calls per token.
type fakeIntrospection struct {
	mu      sync.Mutex
	answers map[string]map[string]any
	calls   map[string]int
}

func (f *fakeIntrospection) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if user, pass, ok := r.BasicAuth(); !ok || user != "gateway" || pass != testIntrospectSecret {
		http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
		return
	}
	tok := r.PostFormValue("token")
	f.mu.Lock()
	f.calls[tok]++
	ans, ok := f.answers[tok]
	f.mu.Unlock()
	if !ok {
		ans = map[string]any{"active": false}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(ans)
}

func (f *fakeIntrospection) callsFor(tok string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[tok]
}

const testIntrospectSecret = "introspection-client-secret-0123456789"

// newIntrospectTest starts the fake endpoint and provisions an
// apigw_introspect provider against it with dpop settings d (nil: off).
func newIntrospectTest(t *testing.T, d *JWTDPoP, answers map[string]map[string]any) (*IntrospectAuth, *fakeIntrospection) {
	t.Helper()
	f := &fakeIntrospection{answers: answers, calls: map[string]int{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	a := &IntrospectAuth{
		OIDCClient:            OIDCClient{Issuer: srv.URL, AllowInsecureLoopback: true, ClientID: "gateway", ClientSecret: testIntrospectSecret},
		IntrospectionEndpoint: srv.URL + "/introspect",
		DPoP:                  d,
	}
	if err := a.provision(zap.NewNop(), newTestStore(t)); err != nil {
		t.Fatalf("provision: %v", err)
	}
	return a, f
}

// TestIntrospectDPoP: an introspected token whose answer has cnf.jkt is
// accepted only as `Authorization: DPoP` with a proof by that key (made by
// the npm dpop package), checked on every request although the answer is
// cached.
func TestIntrospectDPoP(t *testing.T) {
	const htu = "http://example.com/api/x"
	const bound, plain, jwkBound = "opaque-bound-token", "opaque-plain-token", "opaque-jwk-token"
	out := runDPoPScript(t, dpopSpec{
		Keys: map[string]map[string]any{"k": {"alg": "ES256"}, "other": {"alg": "Ed25519"}},
		Proofs: map[string]map[string]any{
			"good":       {"key": "k", "htm": "GET", "htu": htu, "token": bound},
			"good2":      {"key": "k", "htm": "GET", "htu": htu, "token": bound},
			"otherKey":   {"key": "other", "htm": "GET", "htu": htu, "token": bound},
			"plain":      {"key": "k", "htm": "GET", "htu": htu, "token": plain},
			"post":       {"key": "k", "htm": "POST", "htu": htu, "token": bound},
			"otherToken": {"key": "k", "htm": "GET", "htu": htu, "token": plain + "x"},
		},
	})
	answers := map[string]map[string]any{
		bound:    {"active": true, "token_type": "DPoP", "sub": "bob", "scope": "read", "cnf": map[string]any{"jkt": out.JKT["k"]}},
		plain:    {"active": true, "token_type": "Bearer", "sub": "alice", "scope": "read"},
		jwkBound: {"active": true, "token_type": "Bearer", "sub": "carol", "cnf": map[string]any{"jwk": map[string]any{"kty": "OKP"}}},
	}
	a, f := newIntrospectTest(t, &JWTDPoP{Mode: DPoPAllowed}, answers)
	dpop := func(tok, proof string) http.Header {
		h := http.Header{"Authorization": {"DPoP " + tok}}
		if proof != "" {
			h["Dpop"] = []string{proof}
		}
		return h
	}
	for _, tc := range []struct {
		name   string
		header http.Header
		user   string
		method string
		code   string
		errArg string // the error parameter of the DPoP challenge
	}{
		{"bound token, good proof", dpop(bound, out.Proofs["good"]), "bob", "dpop", "", ""},
		{"bound token, second proof (cached answer)", dpop(bound, out.Proofs["good2"]), "bob", "dpop", "", ""},
		{"bound token as Bearer", http.Header{"Authorization": {"Bearer " + bound}}, "", "", problem.CodeInvalidToken, "invalid_token"},
		{"proof by another key", dpop(bound, out.Proofs["otherKey"]), "", "", problem.CodeInvalidToken, "invalid_token"},
		{"replayed proof", dpop(bound, out.Proofs["good"]), "", "", problem.CodeInvalidDPoPProof, "invalid_dpop_proof"},
		{"no proof", dpop(bound, ""), "", "", problem.CodeInvalidDPoPProof, "invalid_dpop_proof"},
		{"two proofs", http.Header{"Authorization": {"DPoP " + bound}, "Dpop": {out.Proofs["post"], out.Proofs["post"]}}, "", "", problem.CodeInvalidDPoPProof, "invalid_dpop_proof"},
		{"proof for POST", dpop(bound, out.Proofs["post"]), "", "", problem.CodeInvalidDPoPProof, "invalid_dpop_proof"},
		{"proof for another token (ath)", dpop(bound, out.Proofs["otherToken"]), "", "", problem.CodeInvalidDPoPProof, "invalid_dpop_proof"},
		{"token without cnf as DPoP", dpop(plain, out.Proofs["plain"]), "", "", problem.CodeInvalidToken, "invalid_token"},
		{"token without cnf as Bearer", http.Header{"Authorization": {"Bearer " + plain}}, "alice", "introspection", "", ""},
		{"cnf without jkt or x5t#S256", http.Header{"Authorization": {"Bearer " + jwkBound}}, "", "", problem.CodeInvalidToken, ""},
		{"inactive token as DPoP", dpop("unknown-token", out.Proofs["good"]), "", "", problem.CodeInvalidToken, ""},
		{"DPoP scheme without token", http.Header{"Authorization": {"DPoP "}}, "", "", problem.CodeInvalidToken, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := authRequest("/api/x", "127.0.0.1", tc.header)
			user, ok, err := a.Authenticate(httptest.NewRecorder(), r)
			if err != nil {
				t.Fatal(err)
			}
			if tc.code != "" {
				p := recordedProblem(r)
				if ok || p.Status != http.StatusUnauthorized || p.Code != tc.code {
					t.Fatalf("ok %v, problem %d %s %q, want 401 %s", ok, p.Status, p.Code, p.Detail, tc.code)
				}
				chall := p.Header.Get("WWW-Authenticate")
				if tc.errArg != "" && (!strings.HasPrefix(chall, `DPoP algs="ES256 RS256 EdDSA"`) || !strings.Contains(chall, `error="`+tc.errArg+`"`)) {
					t.Fatalf("WWW-Authenticate %q, want a DPoP challenge with error=%q", chall, tc.errArg)
				}
				return
			}
			if !ok || user.ID != tc.user || r.Header.Get("X-Auth-Method") != tc.method {
				t.Fatalf("got %+v %v method %q (problem %+v)", user, ok, r.Header.Get("X-Auth-Method"), recordedProblem(r))
			}
			if r.Header.Get("Dpop") != "" || r.Header.Get("Authorization") != "" {
				t.Fatal("credentials not removed before proxying")
			}
		})
	}
	// every request with the bound token after the first was answered
	// from the cache, and still its proof was checked (replay refused)
	if n := f.callsFor(bound); n != 1 {
		t.Fatalf("%d introspection calls for the bound token, want 1 (cached)", n)
	}
	// no credentials: one challenge per accepted scheme
	r := authRequest("/api/x", "127.0.0.1", http.Header{})
	if _, ok, _ := a.Authenticate(httptest.NewRecorder(), r); ok {
		t.Fatal("accepted without credentials")
	}
	got := recordedProblem(r).Header.Values("WWW-Authenticate")
	if !slices.Equal(got, []string{`Bearer realm="caddy-apigw"`, `DPoP algs="ES256 RS256 EdDSA"`}) {
		t.Fatalf("WWW-Authenticate %q", got)
	}
}

// TestIntrospectDPoPModes: required refuses Bearer tokens and challenges
// with DPoP only; off does not take the DPoP scheme and still refuses a
// bound token as Bearer.
func TestIntrospectDPoPModes(t *testing.T) {
	answers := map[string]map[string]any{
		"bound": {"active": true, "token_type": "DPoP", "sub": "bob", "cnf": map[string]any{"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}},
		"plain": {"active": true, "token_type": "Bearer", "sub": "alice"},
	}
	for _, tc := range []struct {
		name      string
		dpop      *JWTDPoP
		header    http.Header
		code      string
		challenge string
	}{
		{"required: Bearer", &JWTDPoP{Mode: DPoPRequired}, http.Header{"Authorization": {"Bearer plain"}}, problem.CodeInvalidToken, `DPoP algs="ES256 RS256 EdDSA", error="invalid_token"`},
		{"required: nothing", &JWTDPoP{Mode: DPoPRequired, Algorithms: []string{"EdDSA"}}, http.Header{}, problem.CodeMissingCredentials, `DPoP algs="EdDSA"`},
		{"required: Basic", &JWTDPoP{Mode: DPoPRequired}, http.Header{"Authorization": {"Basic eDp5"}}, problem.CodeInvalidToken, `DPoP algs="ES256 RS256 EdDSA", error="invalid_token"`},
		{"off: DPoP scheme", &JWTDPoP{Mode: DPoPOff}, http.Header{"Authorization": {"DPoP bound"}, "Dpop": {"x"}}, problem.CodeInvalidToken, `Bearer realm="caddy-apigw", error="invalid_token"`},
		{"off: bound as Bearer", nil, http.Header{"Authorization": {"Bearer bound"}}, problem.CodeInvalidToken, `DPoP algs="ES256 RS256 EdDSA", error="invalid_token"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, _ := newIntrospectTest(t, tc.dpop, answers)
			r := authRequest("/api/x", "127.0.0.1", tc.header)
			if _, ok, _ := a.Authenticate(httptest.NewRecorder(), r); ok {
				t.Fatal("accepted")
			}
			p := recordedProblem(r)
			if p.Code != tc.code || !strings.HasPrefix(p.Header.Get("WWW-Authenticate"), tc.challenge) {
				t.Fatalf("problem %s %q, WWW-Authenticate %q; want %s, %q", p.Code, p.Detail, p.Header.Values("WWW-Authenticate"), tc.code, tc.challenge)
			}
		})
	}
}

// TestIntrospectDPoPNonce: with use_dpop_nonce a proof without the
// server's nonce gets use_dpop_nonce and the nonce; one with it passes.
func TestIntrospectDPoPNonce(t *testing.T) {
	const htu = "http://example.com/api/x"
	keyFile := t.TempDir() + "/k.jwk"
	spec := func(nonce string) dpopSpec {
		p := map[string]any{"key": "k", "htm": "GET", "htu": htu, "token": "bound"}
		if nonce != "" {
			p["nonce"] = nonce
		}
		return dpopSpec{Keys: map[string]map[string]any{"k": {"alg": "ES256", "file": keyFile}}, Proofs: map[string]map[string]any{"p": p}}
	}
	first := runDPoPScript(t, spec(""))
	a, _ := newIntrospectTest(t, &JWTDPoP{Mode: DPoPRequired, UseNonce: true}, map[string]map[string]any{
		"bound": {"active": true, "token_type": "DPoP", "sub": "bob", "cnf": map[string]any{"jkt": first.JKT["k"]}},
	})
	r := authRequest("/api/x", "127.0.0.1", http.Header{"Authorization": {"DPoP bound"}, "Dpop": {first.Proofs["p"]}})
	if _, ok, _ := a.Authenticate(httptest.NewRecorder(), r); ok {
		t.Fatal("proof without nonce accepted")
	}
	p := recordedProblem(r)
	nonce := p.Header.Get("DPoP-Nonce")
	if p.Code != problem.CodeInvalidDPoPProof || nonce == "" || !strings.Contains(p.Header.Get("WWW-Authenticate"), `error="use_dpop_nonce"`) {
		t.Fatalf("problem %s %q, headers %v", p.Code, p.Detail, p.Header)
	}
	second := runDPoPScript(t, spec(nonce))
	r = authRequest("/api/x", "127.0.0.1", http.Header{"Authorization": {"DPoP bound"}, "Dpop": {second.Proofs["p"]}})
	w := httptest.NewRecorder()
	if _, ok, _ := a.Authenticate(w, r); !ok {
		t.Fatalf("proof with nonce refused: %+v", recordedProblem(r))
	}
	if w.Header().Get("DPoP-Nonce") == "" {
		t.Fatal("no DPoP-Nonce on the accepted request")
	}
}

// TestIntrospectCertificateBound: an introspected token whose answer has
// cnf x5t#S256 (RFC 8705) passes only over mutual TLS with that client
// certificate; with DPoP too, both bindings are checked.
func TestIntrospectCertificateBound(t *testing.T) {
	cert, other := testCert(t, "svc"), testCert(t, "other")
	keyFile := t.TempDir() + "/k.jwk"
	out := runDPoPScript(t, dpopSpec{
		Keys:   map[string]map[string]any{"k": {"alg": "ES256", "file": keyFile}},
		Proofs: map[string]map[string]any{"tls": {"key": "k", "htm": "GET", "htu": "https://example.com/api/x", "token": "both"}},
	})
	a, _ := newIntrospectTest(t, &JWTDPoP{Mode: DPoPAllowed}, map[string]map[string]any{
		"cert": {"active": true, "token_type": "Bearer", "sub": "svc", "cnf": map[string]any{"x5t#S256": authn.CertThumbprint(cert)}},
		"both": {"active": true, "token_type": "Bearer", "sub": "svc", "cnf": map[string]any{"x5t#S256": authn.CertThumbprint(cert), "jkt": out.JKT["k"]}},
	})
	for _, tc := range []struct {
		name   string
		header http.Header
		tls    *tls.ConnectionState
		method string
		detail string
	}{
		{"right certificate", http.Header{"Authorization": {"Bearer cert"}}, tlsState(cert, true), "introspection", ""},
		{"other certificate", http.Header{"Authorization": {"Bearer cert"}}, tlsState(other, true), "", "another client certificate"},
		{"no certificate over TLS", http.Header{"Authorization": {"Bearer cert"}}, tlsState(nil, false), "", "mutual TLS"},
		{"no TLS", http.Header{"Authorization": {"Bearer cert"}}, nil, "", "mutual TLS"},
		{"certificate and DPoP", http.Header{"Authorization": {"DPoP both"}, "Dpop": {out.Proofs["tls"]}}, tlsState(cert, true), "dpop", ""},
		{"DPoP, other certificate", http.Header{"Authorization": {"DPoP both"}, "Dpop": {out.Proofs["tls"]}}, tlsState(other, true), "", "another client certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := authRequest("/api/x", "127.0.0.1", tc.header)
			r.TLS = tc.tls
			user, ok, err := a.Authenticate(httptest.NewRecorder(), r)
			if err != nil {
				t.Fatal(err)
			}
			if tc.detail != "" {
				p := recordedProblem(r)
				if ok || p.Code != problem.CodeInvalidToken || !strings.Contains(p.Detail, tc.detail) {
					t.Fatalf("ok %v, problem %s %q, want invalid_token about %q", ok, p.Code, p.Detail, tc.detail)
				}
				return
			}
			if !ok || user.ID != "svc" || r.Header.Get("X-Auth-Method") != tc.method {
				t.Fatalf("got %+v %v method %q (problem %+v)", user, ok, r.Header.Get("X-Auth-Method"), recordedProblem(r))
			}
		})
	}
}

func TestIntrospectDPoPProvisionErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		dpop *JWTDPoP
		want string
	}{
		{"empty mode", &JWTDPoP{}, "dpop.mode is empty"},
		{"unknown mode", &JWTDPoP{Mode: "sometimes"}, "unknown"},
		{"HS256 proofs", &JWTDPoP{Mode: DPoPRequired, Algorithms: []string{"HS256"}}, "asymmetric"},
		{"nonce lifetime without nonces", &JWTDPoP{Mode: DPoPAllowed, NonceLifetime: 1}, "use_dpop_nonce"},
		{"negative max age", &JWTDPoP{Mode: DPoPAllowed, MaxAge: -1}, "must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &IntrospectAuth{
				OIDCClient: OIDCClient{Issuer: "https://id.example.com", ClientID: "gateway", ClientSecret: testIntrospectSecret},
				DPoP:       tc.dpop,
			}
			err := a.provision(zap.NewNop(), newTestStore(t))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "apigw_introspect: ") {
				t.Fatalf("provision error %v, want apigw_introspect: …%q", err, tc.want)
			}
		})
	}
}

// BenchmarkIntrospectDPoPAuthenticate measures apigw_introspect with dpop
// required on the success path: the answer from the cache, cnf.jkt, the
// ES256 proof check, header stripping and publishing the identity.
func BenchmarkIntrospectDPoPAuthenticate(b *testing.B) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	raw, _ := jose.JSONWebKey{Key: &key.PublicKey}.MarshalJSON()
	jkt, _ := authn.JWKThumbprint(raw)
	const token = "opaque-bound-token"
	f := &fakeIntrospection{answers: map[string]map[string]any{
		token: {"active": true, "token_type": "DPoP", "sub": "bob", "scope": "read", "cnf": map[string]any{"jkt": jkt}},
	}, calls: map[string]int{}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	a := &IntrospectAuth{
		OIDCClient:            OIDCClient{Issuer: srv.URL, AllowInsecureLoopback: true, ClientID: "gateway", ClientSecret: testIntrospectSecret},
		IntrospectionEndpoint: srv.URL,
		DPoP:                  &JWTDPoP{Mode: DPoPRequired},
	}
	if err := a.provision(zap.NewNop(), replayBlindStore{newTestStore(b)}); err != nil {
		b.Fatal(err)
	}
	benchDPoPAuthenticate(b, a, key, token)
	if n := f.callsFor(token); n != 1 {
		b.Fatalf("%d introspection calls, want 1", n)
	}
}
