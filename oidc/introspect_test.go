package oidc

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apigw/caddy-apigw/failure"
)

// fakeIntrospection answers like an RFC 7662 endpoint; answer maps a
// token to its JSON answer.
func fakeIntrospection(t testing.TB, answer func(token string) (int, string)) (*httptest.Server, *atomic.Int64) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		id, secret, ok := r.BasicAuth()
		if !ok || id != "gw" || secret != "s3cret%2Fwith+chars" {
			http.Error(w, `{"error":"invalid_client"}`, 401)
			return
		}
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form", 400)
			return
		}
		status, body := answer(r.PostForm.Get("token"))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func newTestIntrospector(srv *httptest.Server) *Introspector {
	return &Introspector{
		Endpoint:     func(context.Context) (string, error) { return srv.URL, nil },
		ClientID:     "gw",
		ClientSecret: "s3cret/with chars",
		Client:       srv.Client(),
		MaxBody:      1024,
	}
}

func TestIntrospect(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	srv, calls := fakeIntrospection(t, func(tok string) (int, string) {
		switch tok {
		case "active":
			return 200, `{"active":true,"token_type":"Bearer","sub":"bob","scope":"read write","client_id":"app","exp":1800000030}`
		case "no-exp":
			return 200, `{"active":true,"token_type":"Bearer","client_id":"svc","scope":"read"}`
		case "expired":
			return 200, `{"active":true,"token_type":"Bearer","sub":"bob","exp":1799999999}`
		case "bound":
			return 200, `{"active":true,"token_type":"Bearer","sub":"bob","cnf":{"jkt":"abc"}}`
		case "bound-jwk":
			return 200, `{"active":true,"token_type":"Bearer","sub":"bob","cnf":{"jwk":{"kty":"OKP","crv":"Ed25519","x":"abc"}}}`
		case "bound-empty":
			return 200, `{"active":true,"token_type":"Bearer","sub":"bob","cnf":{}}`
		case "bound-empty-jkt":
			return 200, `{"active":true,"token_type":"Bearer","sub":"bob","cnf":{"jkt":""}}`
		case "bad-cnf":
			return 200, `{"active":true,"token_type":"Bearer","sub":"bob","cnf":{"jkt":42}}`
		case "refresh":
			return 200, `{"active":true,"sub":"bob","client_id":"app","scope":"openid"}`
		case "refresh-typed":
			return 200, `{"active":true,"sub":"bob","token_type":"refresh_token"}`
		case "dpop-typed":
			return 200, `{"active":true,"sub":"bob","token_type":"DPoP","cnf":{"jkt":"abc"}}`
		case "bound-x5t":
			return 200, `{"active":true,"token_type":"Bearer","sub":"bob","cnf":{"x5t#S256":"def","jkt":""}}`
		case "cnf-null":
			return 200, `{"active":true,"token_type":"Bearer","sub":"bob","cnf":null}`
		case "huge":
			return 200, `{"active":true,"token_type":"Bearer","sub":"` + strings.Repeat("x", 2000) + `"}`
		case "html":
			return 200, `<html>`
		case "no-active":
			return 200, `{"sub":"bob"}`
		case "bad-scope":
			return 200, `{"active":true,"token_type":"Bearer","scope":["read"]}`
		case "down":
			return 502, `bad gateway`
		}
		return 200, `{"active":false}`
	})
	in := newTestIntrospector(srv)
	in.now = func() time.Time { return now }
	ctx := context.Background()

	for _, tc := range []struct {
		token   string
		active  bool
		unavail string
		check   func(*Result) bool
	}{
		{token: "active", active: true, check: func(r *Result) bool {
			return r.Sub == "bob" && r.ClientID == "app" && len(r.Scopes) == 2 && r.Exp.Equal(now.Add(30*time.Second))
		}},
		{token: "no-exp", active: true, check: func(r *Result) bool { return r.ClientID == "svc" && r.Exp.IsZero() }},
		{token: "expired", active: false},
		{token: "bound", active: true, check: func(r *Result) bool { return r.Bound() && r.CnfJKT == "abc" }},
		// RFC 7800: any confirmation method binds the token, also one the
		// gateway cannot check, so it never passes as a Bearer token
		{token: "bound-jwk", active: true, check: func(r *Result) bool { return r.Bound() && r.CnfUnknown }},
		{token: "bound-empty", active: true, check: func(r *Result) bool { return r.Bound() && r.CnfUnknown }},
		{token: "bound-empty-jkt", active: true, check: func(r *Result) bool { return r.Bound() && r.CnfUnknown }},
		{token: "bad-cnf", unavail: "cnf members are not strings"},
		// issuers answer active for refresh tokens too: without an
		// access token's token_type the token opens nothing
		{token: "refresh", active: false},
		{token: "refresh-typed", active: false},
		{token: "dpop-typed", active: true, check: func(r *Result) bool { return r.Bound() }},
		{token: "bound-x5t", active: true, check: func(r *Result) bool { return r.Bound() && r.CnfX5T == "def" && r.CnfJKT == "" && !r.CnfUnknown }},
		{token: "cnf-null", active: true, check: func(r *Result) bool { return !r.Bound() }},
		{token: "garbage", active: false},
		{token: "", active: false},
		{token: strings.Repeat("a", MaxTokenLen+1), active: false},
		{token: "huge", unavail: "larger than 1024 bytes"},
		{token: "html", unavail: "not a JSON object"},
		{token: "no-active", unavail: "no boolean active"},
		{token: "bad-scope", unavail: "scope is not a string"},
		{token: "down", unavail: "answered 502"},
	} {
		t.Run(tc.token[:min(len(tc.token), 12)], func(t *testing.T) {
			res, err := in.Introspect(ctx, tc.token)
			if tc.unavail != "" {
				if !errors.Is(err, failure.ErrUnavailable) || !strings.Contains(failure.Detail(err), tc.unavail) {
					t.Fatalf("err = %v, want a failure.ErrUnavailable about %q", err, tc.unavail)
				}
				return
			}
			if err != nil || res.Active != tc.active || (tc.check != nil && !tc.check(res)) {
				t.Fatalf("Introspect = %+v, %v", res, err)
			}
		})
	}

	t.Run("cache: positive until min(exp, TTL), negative for NegTTL", func(t *testing.T) {
		before := calls.Load()
		_, _ = in.Introspect(ctx, "active")
		_, _ = in.Introspect(ctx, "garbage")
		if calls.Load() != before {
			t.Fatalf("cached answers made %d calls", calls.Load()-before)
		}
		now = now.Add(6 * time.Second) // past NegTTL (5s), before exp (30s)
		_, _ = in.Introspect(ctx, "active")
		if calls.Load() != before {
			t.Fatal("active answer was not reused before its exp")
		}
		_, _ = in.Introspect(ctx, "garbage")
		if calls.Load() != before+1 {
			t.Fatal("negative answer was reused past NegTTL")
		}
		now = now.Add(25 * time.Second) // past exp
		if res, _ := in.Introspect(ctx, "active"); res.Active {
			t.Fatal("token past exp still active")
		}
		// failures are not cached
		b := calls.Load()
		_, _ = in.Introspect(ctx, "down")
		_, _ = in.Introspect(ctx, "down")
		if calls.Load() != b+2 {
			t.Fatal("a failed call was cached")
		}
	})
	t.Run("issuer down: cached positives stay, others unavailable", func(t *testing.T) {
		in2 := newTestIntrospector(srv)
		if res, err := in2.Introspect(ctx, "no-exp"); err != nil || !res.Active {
			t.Fatal(res, err)
		}
		srv.Close()
		if res, err := in2.Introspect(ctx, "no-exp"); err != nil || !res.Active {
			t.Fatalf("cached positive lost: %v %v", res, err)
		}
		if _, err := in2.Introspect(ctx, "active"); !errors.Is(err, failure.ErrUnavailable) {
			t.Fatalf("err = %v, want unreachable", err)
		}
	})
}

func TestIntrospectSingleFlight(t *testing.T) {
	release := make(chan struct{})
	srv, calls := fakeIntrospection(t, func(string) (int, string) {
		<-release
		return 200, `{"active":true,"token_type":"Bearer","sub":"bob"}`
	})
	in := newTestIntrospector(srv)
	const n = 50
	var wg sync.WaitGroup
	var ok atomic.Int64
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if res, err := in.Introspect(context.Background(), "tok"); err == nil && res.Active {
				ok.Add(1)
			}
		}()
	}
	// let the callers pile up on the one call, then answer it
	for in.Calls() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	close(release)
	wg.Wait()
	if ok.Load() != n {
		t.Fatalf("%d of %d callers got the answer", ok.Load(), n)
	}
	if c := calls.Load(); c != 1 {
		t.Fatalf("%d concurrent callers made %d calls, want 1", n, c)
	}
}

func TestIntrospectCacheBounded(t *testing.T) {
	srv, _ := fakeIntrospection(t, func(tok string) (int, string) {
		return 200, `{"active":true,"token_type":"Bearer","sub":"` + tok + `"}`
	})
	in := newTestIntrospector(srv)
	in.MaxEntries = 100
	for i := range 1000 {
		if _, err := in.Introspect(context.Background(), "t"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+time.Duration(i).String()); err != nil {
			t.Fatal(err)
		}
	}
	in.mu.RLock()
	n := len(in.cache)
	in.mu.RUnlock()
	if n > 100 {
		t.Fatalf("cache holds %d entries, bound is 100", n)
	}
}

// BenchmarkIntrospectCacheHit is the hot path of apigw_introspect for a
// token seen before: SHA-256, read lock, map lookup.
func BenchmarkIntrospectCacheHit(b *testing.B) {
	srv, _ := fakeIntrospection(b, func(string) (int, string) {
		return 200, `{"active":true,"token_type":"Bearer","sub":"bob","scope":"read"}`
	})
	in := newTestIntrospector(srv)
	tok := "2YotnFZFEjr1zCsicMWpAA-opaque-access-token-value"
	if _, err := in.Introspect(context.Background(), tok); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		res, err := in.Introspect(ctx, tok)
		if err != nil || !res.Active {
			b.Fatal(res, err)
		}
	}
}
