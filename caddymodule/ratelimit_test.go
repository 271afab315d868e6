package caddymodule

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/apigw/caddy-apigw/failure"
	"github.com/apigw/caddy-apigw/limiter"
	"github.com/apigw/caddy-apigw/problem"
)

// testClock is a manual clock for the memory tables of handler tests.
type testClock struct{ ns atomic.Int64 }

func (c *testClock) now() int64 { return c.ns.Load() }

// newTestRateLimit provisions rl's zones without a running config and
// gives each zone a memory table on clk (nil: the real clock), or the
// limiter lims[name].
func newTestRateLimit(t testing.TB, rl *RateLimit, clk *testClock, lims map[string]limiter.Limiter) *RateLimit {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	rl.logger = zap.NewNop()
	if err := rl.provisionZones(ctx); err != nil {
		t.Fatal(err)
	}
	for _, z := range rl.Zones {
		for _, zl := range z.zone.Limits {
			if l, ok := lims[z.Name]; ok {
				zl.Limiter = l
				continue
			}
			opts := limiter.MemoryOptions{SweepEvery: -1}
			if clk != nil {
				opts.Clock = clk.now
			}
			m, err := limiter.NewMemoryTable(zl.Policy, opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { m.Close() })
			zl.Limiter = m
		}
	}
	return rl
}

// serve runs one request through rl with a next handler answering status
// (as a written response, or as a returned error if asError).
func serve(t testing.TB, rl *RateLimit, req *http.Request, status int, asError bool) (*httptest.ResponseRecorder, error, bool) {
	t.Helper()
	repl := caddyhttp.NewTestReplacer(req)
	ctx := context.WithValue(req.Context(), caddy.ReplacerCtxKey, repl)
	ctx = context.WithValue(ctx, caddyhttp.VarsCtxKey, map[string]any{caddyhttp.ClientIPVarKey: strings.Split(req.RemoteAddr, ":")[0]})
	req = req.WithContext(ctx)
	w := httptest.NewRecorder()
	called := false
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		called = true
		if asError {
			return caddyhttp.Error(status, errors.New("handler failed"))
		}
		w.WriteHeader(status)
		_, err := w.Write([]byte("body"))
		return err
	})
	err := rl.ServeHTTP(w, req, next)
	return w, err, called
}

func newReq(method, target, ip string, hdr ...string) *http.Request {
	req := httptest.NewRequest(method, target, nil)
	req.RemoteAddr = ip + ":1234"
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return req
}

func problemOf(t testing.TB, err error) *problem.Problem {
	t.Helper()
	var p *problem.Problem
	if !errors.As(err, &p) {
		t.Fatalf("error %v is not a problem", err)
	}
	var he caddyhttp.HandlerError
	if !errors.As(err, &he) || he.StatusCode != p.Status {
		t.Fatalf("error %v is not a caddyhttp.HandlerError with the problem's status", err)
	}
	return p
}

func TestRateLimitHandlerAllowDeny(t *testing.T) {
	clk := new(testClock)
	rl := newTestRateLimit(t, &RateLimit{LegacyHeaders: true, Zones: []*RateLimitZone{{
		Name: "per_key", Key: "{http.request.header.X-Client}", Rate: "3/1m",
	}}}, clk, nil)
	for i := 0; i < 3; i++ {
		w, err, called := serve(t, rl, newReq("GET", "/", "10.0.0.1", "X-Client", "a"), 200, false)
		if err != nil || !called || w.Code != 200 {
			t.Fatalf("request %d: %v %v %d", i+1, err, called, w.Code)
		}
		if got, want := w.Header().Get("RateLimit-Policy"), `"per_key";q=3;w=60`; got != want {
			t.Fatalf("RateLimit-Policy %q, want %q", got, want)
		}
		want := []string{`"per_key";r=2;t=20`, `"per_key";r=1;t=20`, `"per_key";r=0;t=20`}[i]
		if got := w.Header().Get("RateLimit"); got != want {
			t.Fatalf("request %d: RateLimit %q, want %q", i+1, got, want)
		}
		if got := w.Header().Get("X-RateLimit-Remaining"); got != []string{"2", "1", "0"}[i] {
			t.Fatalf("request %d: X-RateLimit-Remaining %q", i+1, got)
		}
		// express-rate-limit's legacy headers: X-RateLimit-Reset is a Unix time
		reset, err := strconv.ParseInt(w.Header().Get("X-RateLimit-Reset"), 10, 64)
		if now := time.Now().Unix(); err != nil || reset < now+19 || reset > now+21 || w.Header().Get("X-RateLimit-Limit") != "3" {
			t.Fatalf("request %d: X-RateLimit-Reset %q X-RateLimit-Limit %q, want the Unix time 20 s from now and 3", i+1,
				w.Header().Get("X-RateLimit-Reset"), w.Header().Get("X-RateLimit-Limit"))
		}
	}
	clk.ns.Add(int64(5 * time.Second))
	w, err, called := serve(t, rl, newReq("GET", "/", "10.0.0.1", "X-Client", "a"), 200, false)
	if called {
		t.Fatal("next called for a denied request")
	}
	p := problemOf(t, err)
	if p.Status != 429 || p.Code != problem.CodeRateLimited {
		t.Fatalf("problem %d %s, want 429 rate_limited", p.Status, p.Code)
	}
	if got := p.Header.Get("Retry-After"); got != "15" {
		t.Fatalf("Retry-After %q, want 15 (20s interval - 5s waited)", got)
	}
	for _, h := range []http.Header{p.Header, w.Header()} {
		if got := h.Get("RateLimit"); got != `"per_key";r=0;t=15` {
			t.Fatalf("RateLimit on 429 %q", got)
		}
		if got := h.Get("RateLimit-Policy"); got == "" {
			t.Fatal("no RateLimit-Policy on 429")
		}
	}
	// another client is unaffected
	if _, err, _ := serve(t, rl, newReq("GET", "/", "10.0.0.1", "X-Client", "b"), 200, false); err != nil {
		t.Fatal(err)
	}
	// waiting out Retry-After is enough
	clk.ns.Add(int64(15 * time.Second))
	if _, err, _ := serve(t, rl, newReq("GET", "/", "10.0.0.1", "X-Client", "a"), 200, false); err != nil {
		t.Fatalf("denied after waiting Retry-After: %v", err)
	}
}

func TestRateLimitCountStatus(t *testing.T) {
	for _, asError := range []bool{false, true} {
		name := map[bool]string{false: "written", true: "returned error"}[asError]
		t.Run(name, func(t *testing.T) {
			clk := new(testClock)
			rl := newTestRateLimit(t, &RateLimit{Zones: []*RateLimitZone{{
				Name: "login", Key: "{http.vars.client_ip}", Rate: "5/15m", CountStatus: []int{401},
			}}}, clk, nil)
			// successes never count
			for i := 0; i < 10; i++ {
				w, err, _ := serve(t, rl, newReq("POST", "/login", "10.0.0.7"), 200, false)
				// the whole quota is there: the next unit is one interval away once one is used
				if err != nil || w.Header().Get("RateLimit") != `"login";r=5;t=180` {
					t.Fatalf("success %d: %v, RateLimit %q", i, err, w.Header().Get("RateLimit"))
				}
			}
			for i := 0; i < 5; i++ {
				w, err, called := serve(t, rl, newReq("POST", "/login", "10.0.0.7"), 401, asError)
				if !called {
					t.Fatalf("failure %d denied", i+1)
				}
				if asError {
					var he caddyhttp.HandlerError
					if !errors.As(err, &he) || he.StatusCode != 401 {
						t.Fatalf("failure %d: error %v not passed through", i+1, err)
					}
				} else if w.Code != 401 {
					t.Fatalf("failure %d: status %d", i+1, w.Code)
				}
				if got, want := w.Header().Get("RateLimit"), `"login";r=`+string(rune('4'-i))+`;t=`; !strings.HasPrefix(got, want) {
					t.Fatalf("failure %d: RateLimit %q, want prefix %q", i+1, got, want)
				}
			}
			_, err, called := serve(t, rl, newReq("POST", "/login", "10.0.0.7"), 200, false)
			if called || problemOf(t, err).Status != 429 {
				t.Fatalf("6th attempt after 5 failures: called=%v err=%v, want 429", called, err)
			}
			// another client IP has its own budget
			if _, _, called := serve(t, rl, newReq("POST", "/login", "10.0.0.8"), 401, asError); !called {
				t.Fatal("another client denied")
			}
		})
	}
}

func TestRateLimitEmptyKey(t *testing.T) {
	zone := func() []*RateLimitZone {
		return []*RateLimitZone{{Name: "per_user", Key: "{http.auth.user.id}", Rate: "2/1h"}}
	}
	t.Run("client_ip fallback", func(t *testing.T) {
		rl := newTestRateLimit(t, &RateLimit{Zones: zone()}, new(testClock), nil)
		for i := 0; i < 2; i++ {
			if _, err, _ := serve(t, rl, newReq("GET", "/", "10.0.0.1"), 200, false); err != nil {
				t.Fatal(err)
			}
		}
		if _, err, _ := serve(t, rl, newReq("GET", "/", "10.0.0.1"), 200, false); err == nil {
			t.Fatal("third anonymous request from one IP allowed")
		}
		// a different IP is a different bucket: no shared anonymous bucket
		if _, err, _ := serve(t, rl, newReq("GET", "/", "10.0.0.2"), 200, false); err != nil {
			t.Fatalf("anonymous requests of two IPs share a bucket: %v", err)
		}
	})
	t.Run("deny", func(t *testing.T) {
		rl := newTestRateLimit(t, &RateLimit{EmptyKey: EmptyKeyDeny, Zones: zone()}, new(testClock), nil)
		_, err, called := serve(t, rl, newReq("GET", "/", "10.0.0.1"), 200, false)
		if called || problemOf(t, err).Status != 400 {
			t.Fatalf("empty key with deny: called=%v err=%v, want 400", called, err)
		}
	})
	t.Run("skip", func(t *testing.T) {
		rl := newTestRateLimit(t, &RateLimit{EmptyKey: EmptyKeySkip, Zones: zone()}, new(testClock), nil)
		for i := 0; i < 5; i++ {
			w, err, _ := serve(t, rl, newReq("GET", "/", "10.0.0.1"), 200, false)
			if err != nil || w.Header().Get("RateLimit") != "" {
				t.Fatalf("skip: %v, RateLimit %q", err, w.Header().Get("RateLimit"))
			}
		}
	})
}

func TestRateLimitZonesAndMatch(t *testing.T) {
	clk := new(testClock)
	rl := newTestRateLimit(t, &RateLimit{Zones: []*RateLimitZone{
		{Name: "wide", Key: "{http.vars.client_ip}", Rate: "100/1h"},
		{Name: "writes", Key: "{http.vars.client_ip}", Rate: "2/1h", MatchRaw: caddy.ModuleMap{"method": []byte(`["POST"]`)}},
	}}, clk, nil)
	for i := 0; i < 2; i++ {
		if _, err, _ := serve(t, rl, newReq("POST", "/", "10.0.0.1"), 200, false); err != nil {
			t.Fatal(err)
		}
	}
	w, err, _ := serve(t, rl, newReq("POST", "/", "10.0.0.1"), 200, false)
	if err == nil {
		t.Fatal("third POST allowed")
	}
	// the denied request was not counted by the zone that allowed it
	if got := w.Header().Get("RateLimit"); got != `"wide";r=98;t=36, "writes";r=0;t=1800` {
		t.Fatalf("RateLimit on 429: %q", got)
	}
	// GETs are not limited by "writes" and carry only "wide"
	w, err, _ = serve(t, rl, newReq("GET", "/", "10.0.0.1"), 200, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := w.Header().Get("RateLimit"); got != `"wide";r=97;t=36` {
		t.Fatalf("RateLimit on GET: %q", got)
	}
	if got := w.Header().Get("RateLimit-Policy"); got != `"wide";q=100;w=3600` {
		t.Fatalf("RateLimit-Policy on GET: %q", got)
	}
}

// With sliding windows, the zone that allowed a request another zone
// denied gives it back too; its t stays the refunded decision's (a lower
// bound of the time until the next unit).
func TestRateLimitZonesSlidingRefund(t *testing.T) {
	clk := new(testClock)
	rl := newTestRateLimit(t, &RateLimit{Zones: []*RateLimitZone{
		{Name: "wide", Key: "{http.vars.client_ip}", Rate: "3/1h", Algorithm: "sliding_window"},
		{Name: "writes", Key: "{http.vars.client_ip}", Rate: "2/1h", Algorithm: "sliding_window", MatchRaw: caddy.ModuleMap{"method": []byte(`["POST"]`)}},
	}}, clk, nil)
	for i := 0; i < 2; i++ {
		if _, err, _ := serve(t, rl, newReq("POST", "/", "10.0.0.1"), 200, false); err != nil {
			t.Fatal(err)
		}
	}
	// "wide" takes its last unit, "writes" denies: "wide" refunds it
	w, err, _ := serve(t, rl, newReq("POST", "/", "10.0.0.1"), 200, false)
	if err == nil {
		t.Fatal("third POST allowed")
	}
	// writes: previous count 2 must decay to 1: the window's end (1h) + 30m
	if got := w.Header().Get("RateLimit"); got != `"wide";r=1;t=4800, "writes";r=0;t=5400` {
		t.Fatalf("RateLimit on 429: %q", got)
	}
	// the refunded unit is there: one GET passes, the next is denied
	if w, err, _ := serve(t, rl, newReq("GET", "/", "10.0.0.1"), 200, false); err != nil || w.Header().Get("RateLimit") != `"wide";r=0;t=4800` {
		t.Fatalf("GET after the refund: %v, RateLimit %q", err, w.Header().Get("RateLimit"))
	}
	if _, err, _ := serve(t, rl, newReq("GET", "/", "10.0.0.1"), 200, false); err == nil {
		t.Fatal("4th request within the hour allowed by a 3/1h zone")
	}
}

// failingLimiter is a store that is down.
type failingLimiter struct{}

func (failingLimiter) Take(context.Context, string) (limiter.Result, error) {
	return limiter.Result{}, failure.ErrUnavailable
}
func (failingLimiter) Refund(context.Context, string) error { return failure.ErrUnavailable }

func TestRateLimitStoreFailure(t *testing.T) {
	zones := func() []*RateLimitZone {
		return []*RateLimitZone{{Name: "z", Key: "{http.vars.client_ip}", Rate: "1/1h"}}
	}
	down := map[string]limiter.Limiter{"z": failingLimiter{}}
	t.Run("fail_open", func(t *testing.T) {
		rl := newTestRateLimit(t, &RateLimit{Zones: zones()}, new(testClock), down)
		for i := 0; i < 3; i++ {
			w, err, called := serve(t, rl, newReq("GET", "/", "10.0.0.1"), 200, false)
			if err != nil || !called {
				t.Fatalf("fail_open denied: %v", err)
			}
			if w.Header().Get("RateLimit") != "" || w.Header().Get("RateLimit-Policy") == "" {
				t.Fatalf("fail_open headers: %v", w.Header())
			}
		}
	})
	t.Run("fail_closed", func(t *testing.T) {
		rl := newTestRateLimit(t, &RateLimit{OnStoreError: FailClosed, Zones: zones()}, new(testClock), down)
		_, err, called := serve(t, rl, newReq("GET", "/", "10.0.0.1"), 200, false)
		if called {
			t.Fatal("fail_closed let the request through")
		}
		if p := problemOf(t, err); p.Status != 503 || p.Code != problem.CodeServiceUnavailable {
			t.Fatalf("fail_closed: %d %s, want 503 service_unavailable", p.Status, p.Code)
		}
	})
}

func TestRateLimitCaddyfile(t *testing.T) {
	for _, tc := range []struct {
		name    string
		input   string
		wantErr string
	}{
		{name: "ok", input: `apigw_rate_limit {
			zone per_key {
				key {http.auth.user.id}
				rate 100/1m
				burst 20
			}
			zone login {
				key {http.vars.client_ip} {http.request.uri.path}
				rate 5/15m
				count_status 401 403
				match method POST
				max_keys 5000
				algorithm sliding_window
			}
			on_store_error fail_closed
			store_timeout 50ms
			legacy_headers
			empty_key deny
		}`},
		{name: "no zone", input: `apigw_rate_limit`, wantErr: "no zone configured"},
		{name: "argument", input: `apigw_rate_limit 100/1m`, wantErr: "takes no arguments"},
		{name: "zone without key", input: `apigw_rate_limit {
			zone z {
				rate 1/1m
			}
		}`, wantErr: "zone z: key is required"},
		{name: "zone without rate", input: `apigw_rate_limit {
			zone z {
				key {http.vars.client_ip}
			}
		}`, wantErr: "zone z: rate is required"},
		{name: "zero rate", input: `apigw_rate_limit {
			zone z {
				key {http.vars.client_ip}
				rate 0/1m
			}
		}`, wantErr: `zone z: rate "0/1m": events must be a positive integer`},
		{name: "negative rate", input: `apigw_rate_limit {
			zone z {
				key {http.vars.client_ip}
				rate -3/1m
			}
		}`, wantErr: `zone z: rate "-3/1m"`},
		{name: "malformed rate", input: `apigw_rate_limit {
			zone z {
				key {http.vars.client_ip}
				rate 100perminute
			}
		}`, wantErr: `want <events>/<window>`},
		{name: "bad window", input: `apigw_rate_limit {
			zone z {
				key {http.vars.client_ip}
				rate 100/0s
			}
		}`, wantErr: `window must be a positive duration`},
		{name: "bad burst", input: `apigw_rate_limit {
			zone z {
				key {http.vars.client_ip}
				rate 1/1m
				burst 0
			}
		}`, wantErr: `burst "0" must be a positive integer`},
		{name: "bad status", input: `apigw_rate_limit {
			zone z {
				key {http.vars.client_ip}
				rate 1/1m
				count_status 99
			}
		}`, wantErr: `count_status "99" is not an HTTP status`},
		{name: "key without placeholder", input: `apigw_rate_limit {
			zone z {
				key everyone
				rate 1/1m
			}
		}`, wantErr: `has no placeholder`},
		{name: "unknown zone option", input: `apigw_rate_limit {
			zone z {
				key {http.vars.client_ip}
				rate 1/1m
				window 1m
			}
		}`, wantErr: `zone z: unknown option "window"`},
		{name: "unknown option", input: `apigw_rate_limit {
			zone z {
				key {http.vars.client_ip}
				rate 1/1m
			}
			fail_mode open
		}`, wantErr: `unknown option "fail_mode"`},
		{name: "bad fail mode", input: `apigw_rate_limit {
			zone z {
				key {http.vars.client_ip}
				rate 1/1m
			}
			on_store_error maybe
		}`, wantErr: `on_store_error "maybe": use fail_open or fail_closed`},
		{name: "bad empty_key", input: `apigw_rate_limit {
			zone z {
				key {http.vars.client_ip}
				rate 1/1m
			}
			empty_key share
		}`, wantErr: `empty_key "share"`},
		{name: "unknown algorithm", input: `apigw_rate_limit {
			zone z {
				key {http.vars.client_ip}
				rate 1/1m
				algorithm fixed_window
			}
		}`, wantErr: `zone z: algorithm "fixed_window": want gcra or sliding_window`},
		{name: "algorithm without value", input: `apigw_rate_limit {
			zone z {
				key {http.vars.client_ip}
				rate 1/1m
				algorithm
			}
		}`, wantErr: `wrong argument count`},
		{name: "sliding window with burst", input: `apigw_rate_limit {
			zone z {
				key {http.vars.client_ip}
				rate 100/1m
				burst 20
				algorithm sliding_window
			}
		}`, wantErr: `zone z: burst 20 is not supported by algorithm sliding_window, which allows exactly the rate's 100 events per window: remove burst, or use algorithm gcra`},
		{name: "bad zone name", input: `apigw_rate_limit {
			zone "a b" {
				key {http.vars.client_ip}
				rate 1/1m
			}
		}`, wantErr: `name must be`},
		{name: "duplicate zone", input: `apigw_rate_limit {
			zone z {
				key {http.vars.client_ip}
				rate 1/1m
			}
			zone z {
				key {http.vars.client_ip}
				rate 2/1m
			}
		}`, wantErr: `declared twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rl := new(RateLimit)
			err := rl.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.input))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(rl.Zones) != 2 || rl.Zones[1].Key != "{http.vars.client_ip}|{http.request.uri.path}" ||
					rl.Zones[1].MatchRaw == nil || rl.Zones[0].Burst != 20 || rl.OnStoreError != FailClosed ||
					rl.Zones[0].Algorithm != "" || rl.Zones[1].Algorithm != "sliding_window" {
					t.Fatalf("parsed %+v", rl)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

// JSON configs get the same checks at provision.
func TestRateLimitProvisionErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		rl      RateLimit
		wantErr string
	}{
		{"no zones", RateLimit{}, "no zone configured"},
		{"missing key", RateLimit{Zones: []*RateLimitZone{{Name: "z", Rate: "1/1m"}}}, "zone z: key is required"},
		{"zero rate", RateLimit{Zones: []*RateLimitZone{{Name: "z", Key: "{client_ip}", Rate: "0/1m"}}}, "events must be a positive integer"},
		{"negative burst", RateLimit{Zones: []*RateLimitZone{{Name: "z", Key: "{client_ip}", Rate: "1/1m", Burst: -1}}}, "burst -1"},
		{"unclosed placeholder", RateLimit{Zones: []*RateLimitZone{{Name: "z", Key: "{client_ip", Rate: "1/1m"}}}, "unclosed placeholder"},
		{"bad fail mode", RateLimit{OnStoreError: "open", Zones: []*RateLimitZone{{Name: "z", Key: "{client_ip}", Rate: "1/1m"}}}, "on_store_error"},
		{"bad status", RateLimit{Zones: []*RateLimitZone{{Name: "z", Key: "{client_ip}", Rate: "1/1m", CountStatus: []int{1000}}}}, "count_status 1000"},
		{"unknown algorithm", RateLimit{Zones: []*RateLimitZone{{Name: "z", Key: "{client_ip}", Rate: "1/1m", Algorithm: "leaky_bucket"}}}, `zone z: algorithm "leaky_bucket": want gcra or sliding_window`},
		{"sliding window burst", RateLimit{Zones: []*RateLimitZone{{Name: "z", Key: "{client_ip}", Rate: "5/15m", Burst: 2, Algorithm: "sliding_window"}}}, "burst 2 is not supported by algorithm sliding_window"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
			defer cancel()
			rl := tc.rl
			err := rl.Provision(ctx)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Provision error %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestKeyTemplate(t *testing.T) {
	req := newReq("GET", "/a/b", "10.1.2.3", "X-Api-Key", "k1")
	repl := caddyhttp.NewTestReplacer(req)
	repl.Set("http.auth.user.id", "alice")
	for _, tc := range []struct {
		tmpl, want string
		ok         bool
	}{
		{"{http.auth.user.id}", "alice", true},
		{"{http.request.header.X-Api-Key}", "k1", true},
		{"{http.auth.user.id}|{path}", "alice|/a/b", true},
		{"user:{http.auth.user.id}", "user:alice", true},
		{"{http.request.header.X-Missing}", "", false},
		{"{http.auth.user.id}|{http.request.header.X-Missing}", "", false},
		{"{no.such.placeholder}", "", false},
	} {
		t.Run(tc.tmpl, func(t *testing.T) {
			k, err := limiter.ParseKey(tc.tmpl)
			if err != nil {
				t.Fatal(err)
			}
			kt := newKeyTemplate(k, 0)
			got, ok := kt.eval(repl)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("eval = %q, %v; want %q, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestRateLimitSlidingWindow(t *testing.T) {
	t.Run("allow deny headers", func(t *testing.T) {
		clk := new(testClock) // 0: a window boundary
		rl := newTestRateLimit(t, &RateLimit{LegacyHeaders: true, Zones: []*RateLimitZone{{
			Name: "per_key", Key: "{http.request.header.X-Client}", Rate: "3/1m", Algorithm: "sliding_window",
		}}}, clk, nil)
		// slow arrivals (one every 19s) still get exactly 3 in the window
		for i := 0; i < 3; i++ {
			w, err, called := serve(t, rl, newReq("GET", "/", "10.0.0.1", "X-Client", "a"), 200, false)
			if err != nil || !called || w.Code != 200 {
				t.Fatalf("request %d: %v %v %d", i+1, err, called, w.Code)
			}
			if got, want := w.Header().Get("RateLimit-Policy"), `"per_key";q=3;w=60`; got != want {
				t.Fatalf("RateLimit-Policy %q, want %q", got, want)
			}
			// t: until one more unit. 1st (0s, count 1): when the count
			// stops weighing, the next window's end (120s); 2nd (19s,
			// count 2): when it weighs ≤ 1, 30s into the next (71s); 3rd
			// (38s): when 3 weighs ≤ 2, 20s into the next (42s)
			want := []string{`"per_key";r=2;t=120`, `"per_key";r=1;t=71`, `"per_key";r=0;t=42`}[i]
			if got := w.Header().Get("RateLimit"); got != want {
				t.Fatalf("request %d: RateLimit %q, want %q", i+1, got, want)
			}
			clk.ns.Add(int64(19 * time.Second))
		}
		// 57s: the 4th is denied although GCRA would have refilled
		_, err, called := serve(t, rl, newReq("GET", "/", "10.0.0.1", "X-Client", "a"), 200, false)
		if called {
			t.Fatal("4th request in the window passed")
		}
		p := problemOf(t, err)
		if p.Status != 429 || p.Header.Get("Retry-After") != "23" || p.Header.Get("RateLimit") != `"per_key";r=0;t=23` {
			t.Fatalf("429 %d Retry-After %q RateLimit %q, want Retry-After 23 (3s to the window end + 20s)",
				p.Status, p.Header.Get("Retry-After"), p.Header.Get("RateLimit"))
		}
		clk.ns.Add(int64(22 * time.Second))
		if _, err, _ := serve(t, rl, newReq("GET", "/", "10.0.0.1", "X-Client", "a"), 200, false); err == nil {
			t.Fatal("allowed one second before Retry-After")
		}
		clk.ns.Add(int64(time.Second))
		w, err, _ := serve(t, rl, newReq("GET", "/", "10.0.0.1", "X-Client", "a"), 200, false)
		if err != nil {
			t.Fatalf("denied after waiting Retry-After: %v", err)
		}
		// 80s: previous window 3·(40/60) = 2 plus this one = 3
		if got := w.Header().Get("RateLimit"); !strings.HasPrefix(got, `"per_key";r=0;t=`) {
			t.Fatalf("RateLimit %q after the wait", got)
		}
	})
	for _, asError := range []bool{false, true} {
		name := map[bool]string{false: "count_status written", true: "count_status returned error"}[asError]
		t.Run(name, func(t *testing.T) {
			clk := new(testClock)
			rl := newTestRateLimit(t, &RateLimit{Zones: []*RateLimitZone{{
				Name: "login", Key: "{http.vars.client_ip}", Rate: "5/15m", CountStatus: []int{401}, Algorithm: "sliding_window",
			}}}, clk, nil)
			for i := 0; i < 10; i++ {
				w, err, _ := serve(t, rl, newReq("POST", "/login", "10.0.0.7"), 200, false)
				if err != nil || w.Header().Get("RateLimit") != `"login";r=5;t=900` {
					t.Fatalf("success %d: %v, RateLimit %q", i, err, w.Header().Get("RateLimit"))
				}
			}
			// five failures spread over 14 minutes
			for i := 0; i < 5; i++ {
				if _, _, called := serve(t, rl, newReq("POST", "/login", "10.0.0.7"), 401, asError); !called {
					t.Fatalf("failure %d denied", i+1)
				}
				clk.ns.Add(int64(3*time.Minute + 20*time.Second))
			}
			_, err, called := serve(t, rl, newReq("POST", "/login", "10.0.0.7"), 200, false)
			if called || problemOf(t, err).Status != 429 {
				t.Fatalf("6th attempt after 5 failures in 15 minutes: called=%v err=%v, want 429", called, err)
			}
			ra, _ := strconv.Atoi(problemOf(t, err).Header.Get("Retry-After"))
			if ra <= 0 {
				t.Fatalf("Retry-After %q", problemOf(t, err).Header.Get("Retry-After"))
			}
			clk.ns.Add(int64(ra) * int64(time.Second))
			if _, _, called := serve(t, rl, newReq("POST", "/login", "10.0.0.7"), 401, asError); !called {
				t.Fatal("denied after waiting Retry-After")
			}
		})
	}
}

// Consumer plans: the zone's rate comes from a placeholder (here a header;
// {http.auth.user.tier} through the binary); an unknown or missing tier
// gets the default plan; plans count apart.
func TestRateLimitPlans(t *testing.T) {
	clk := new(testClock)
	rl := newTestRateLimit(t, &RateLimit{Zones: []*RateLimitZone{{
		Name: "per_tier", Key: "{http.request.header.X-Client}", RateFrom: "{http.request.header.X-Tier}",
		Plans: map[string]string{"gold": "3/1m", "default": "1/1m"},
	}}}, clk, nil)
	for _, tc := range []struct {
		name, client, tier string
		allowed            int
		policy             string
	}{
		{"gold", "a", "gold", 3, `"per_tier";q=3;w=60`},
		{"unknown tier gets the default", "b", "platinum", 1, `"per_tier";q=1;w=60`},
		{"no tier gets the default", "c", "", 1, `"per_tier";q=1;w=60`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i := 0; ; i++ {
				req := newReq("GET", "/", "10.0.0.1", "X-Client", tc.client, "X-Tier", tc.tier)
				w, err, _ := serve(t, rl, req, 200, false)
				if err != nil {
					if i != tc.allowed {
						t.Fatalf("denied after %d requests, want %d", i, tc.allowed)
					}
					break
				}
				if got := w.Header().Get("RateLimit-Policy"); got != tc.policy {
					t.Fatalf("RateLimit-Policy %q, want %q", got, tc.policy)
				}
				if i >= tc.allowed {
					t.Fatalf("request %d allowed; plan allows %d", i+1, tc.allowed)
				}
			}
		})
	}
	t.Run("config errors", func(t *testing.T) {
		for _, z := range []*RateLimitZone{
			{Name: "z", Key: "{client_ip}", RateFrom: "{http.auth.user.tier}", Plans: map[string]string{"gold": "3/1m"}},
			{Name: "z", Key: "{client_ip}", RateFrom: "{http.auth.user.tier}", Plans: map[string]string{"gold": "", "default": "1/1m"}},
			{Name: "z", Key: "{client_ip}", Plans: map[string]string{"default": "1/1m"}},
			{Name: "z", Key: "{client_ip}", Rate: "1/1m", RateFrom: "{http.auth.user.tier}", Plans: map[string]string{"default": "1/1m"}},
			{Name: "z", Key: "{client_ip}", RateFrom: "tier", Plans: map[string]string{"default": "1/1m"}},
		} {
			if _, err := z.check(); err == nil {
				t.Errorf("zone %+v provisioned", z)
			}
		}
	})
}

// A calendar quota through the handler: RateLimit-Policy has no w for a
// month, and t is the time until the period ends.
func TestRateLimitCalendar(t *testing.T) {
	clk := new(testClock)
	clk.ns.Store(time.Date(2027, 1, 31, 22, 0, 0, 0, time.UTC).UnixNano())
	rl := newTestRateLimit(t, &RateLimit{Zones: []*RateLimitZone{{
		Name: "monthly", Key: "{http.request.header.X-Client}", Rate: "2/calendar_month",
	}}}, clk, nil)
	for i := 0; i < 2; i++ {
		w, err, _ := serve(t, rl, newReq("GET", "/", "10.0.0.1", "X-Client", "a"), 200, false)
		if err != nil || w.Header().Get("RateLimit-Policy") != `"monthly";q=2` || w.Header().Get("RateLimit") != `"monthly";r=`+strconv.Itoa(1-i)+`;t=7200` {
			t.Fatalf("request %d: %v %v", i+1, err, w.Header())
		}
	}
	_, err, _ := serve(t, rl, newReq("GET", "/", "10.0.0.1", "X-Client", "a"), 200, false)
	if p := problemOf(t, err); p.Status != 429 || p.Header.Get("Retry-After") != "7200" {
		t.Fatalf("3rd request: %+v", p)
	}
	clk.ns.Store(time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	if _, err, _ := serve(t, rl, newReq("GET", "/", "10.0.0.1", "X-Client", "a"), 200, false); err != nil {
		t.Fatalf("denied in the next month: %v", err)
	}
}
