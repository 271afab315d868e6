package caddymodule_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apigw/caddy-apigw/internal/testutil"
)

// The scale-out tests run two real Caddy processes on the demo Caddyfile
// with APIGW_STORE pointing at one real redis-server, and drive them over
// HTTP and their admin endpoints.

const soDemoJWTSecret = "dev-only-jwt-secret-change-me-0123456789abcdef"

var (
	soModulesOnce sync.Once
	soModules     string
	soAdaptErr    string
)

// soRequireDemo skips t unless the built binary runs the demo Caddyfile
// and has the admin API (the providers come from other branches).
func soRequireDemo(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts redis-server and two Caddy processes")
	}
	bin := testutil.CaddyBinary(t)
	soModulesOnce.Do(func() {
		out, _ := exec.Command(bin, "list-modules").Output()
		soModules = string(out)
		cmd := exec.Command(bin, "adapt", "--config", filepath.Join(testutil.RepoRoot(), "Caddyfile.example"), "--adapter", "caddyfile")
		if out, err := cmd.CombinedOutput(); err != nil {
			soAdaptErr = fmt.Sprintf("%v: %s", err, out)
		}
	})
	if !strings.Contains(soModules, "admin.api.apigw\n") {
		t.Skip("this build lacks admin.api.apigw")
	}
	if soAdaptErr != "" {
		t.Skipf("this build cannot run the demo Caddyfile yet: %s", soAdaptErr)
	}
}

type soPair struct {
	redis *testutil.Redis
	a, b  *testutil.Caddy
}

func soStartPair(t *testing.T, storeQuery string) *soPair {
	t.Helper()
	rs := testutil.StartRedis(t)
	env := []string{"APIGW_STORE=" + rs.URL(0) + storeQuery}
	return &soPair{redis: rs, a: testutil.StartCaddy(t, testutil.Options{Env: env}), b: testutil.StartCaddy(t, testutil.Options{Env: env})}
}

type soResult struct {
	status int
	header http.Header
	body   string
}

var soClient = &http.Client{Timeout: 60 * time.Second}

func soDo(t testing.TB, method, url string, body any, hdr ...string) soResult {
	t.Helper()
	r, err := soTry(method, url, body, hdr...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// soTry is soDo for goroutines other than the test's (no t.Fatal).
func soTry(method, url string, body any, hdr ...string) (soResult, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return soResult{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := soClient.Do(req)
	if err != nil {
		return soResult{}, fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return soResult{status: resp.StatusCode, header: resp.Header, body: string(b)}, nil
}

func (r soResult) code() string {
	var p struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal([]byte(r.body), &p)
	return p.Code
}

func soExpect(t testing.TB, what string, r soResult, status int, code string) {
	t.Helper()
	if r.status != status || (code != "" && r.code() != code) {
		t.Fatalf("%s: status %d code %q, want %d %q; body %s", what, r.status, r.code(), status, code, r.body)
	}
}

// soCreateKey creates a runtime key over inst's admin API.
func soCreateKey(t testing.TB, inst *testutil.Caddy, user string) (id, key string) {
	t.Helper()
	r := soDo(t, "POST", inst.AdminURL("/apigw/keys"), map[string]any{"user": user, "scopes": []string{"read"}, "metadata": map[string]string{"team": "soak"}, "expires": "1h"})
	soExpect(t, "POST /apigw/keys", r, 201, "")
	var out struct{ ID, Key string }
	if err := json.Unmarshal([]byte(r.body), &out); err != nil || out.ID == "" || out.Key == "" {
		t.Fatalf("create key answer %s", r.body)
	}
	return out.ID, out.Key
}

// soHs256 mints an HS256 JWT (header.claims.signature, base64url).
func soHs256(claims map[string]any) string {
	enc := base64.RawURLEncoding
	h := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	c, _ := json.Marshal(claims)
	in := h + "." + enc.EncodeToString(c)
	m := hmac.New(sha256.New, []byte(soDemoJWTSecret))
	m.Write([]byte(in))
	return in + "." + enc.EncodeToString(m.Sum(nil))
}

// soLogin logs demo in on inst and returns the session cookie header value.
func soLogin(t testing.TB, inst *testutil.Caddy) string {
	t.Helper()
	r := soDo(t, "POST", inst.URL("/login"), map[string]string{"username": "demo", "password": "demo-password"})
	soExpect(t, "login", r, 200, "")
	var parts []string
	for _, sc := range r.header.Values("Set-Cookie") {
		kv, _, _ := strings.Cut(sc, ";")
		if name, val, _ := strings.Cut(kv, "="); val != "" && name != "" {
			parts = append(parts, kv)
		}
	}
	if len(parts) == 0 {
		t.Fatalf("login set no cookie: %v", r.header)
	}
	return strings.Join(parts, "; ")
}

func TestScaleOutAdminKeys(t *testing.T) {
	soRequireDemo(t)
	p := soStartPair(t, "")
	id, key := soCreateKey(t, p.a, "alice")
	for name, inst := range map[string]*testutil.Caddy{"A": p.a, "B": p.b} {
		r := soDo(t, "GET", inst.URL("/key/x"), nil, "X-API-Key", key)
		soExpect(t, "new key on "+name, r, 200, "")
		if !strings.Contains(r.body, `"x-auth-user":"alice"`) || strings.Contains(r.body, key) {
			t.Fatalf("upstream on %s saw %s", name, r.body)
		}
	}
	list := soDo(t, "GET", p.b.AdminURL("/apigw/keys"), nil)
	soExpect(t, "list on B", list, 200, "")
	if !strings.Contains(list.body, `"id":"`+id+`"`) || strings.Contains(list.body, key) || strings.Contains(list.body, `"key"`) {
		t.Fatalf("listing: %s", list.body)
	}
	soExpect(t, "DELETE on A", soDo(t, "DELETE", p.a.AdminURL("/apigw/keys/"+id), nil), 204, "")
	// refused on both at once: the next request after the 204, no waiting
	for name, inst := range map[string]*testutil.Caddy{"A": p.a, "B": p.b} {
		soExpect(t, "revoked key on "+name, soDo(t, "GET", inst.URL("/key/x"), nil, "X-API-Key", key), 401, "invalid_api_key")
	}
	soExpect(t, "DELETE again on B", soDo(t, "DELETE", p.b.AdminURL("/apigw/keys/"+id), nil), 404, "not_found")
	// admin bad input through the real admin endpoint
	soExpect(t, "malformed", soDo(t, "POST", p.a.AdminURL("/apigw/keys"), json.RawMessage(`{"user":`)), 400, "bad_request")
	soExpect(t, "wrong method", soDo(t, "PATCH", p.a.AdminURL("/apigw/keys"), nil), 405, "method_not_allowed")
	// Caddy's admin origin check still applies to our routes
	r := soDo(t, "GET", p.a.AdminURL("/apigw/keys"), nil, "Origin", "http://evil.example")
	if r.status != http.StatusForbidden {
		t.Fatalf("foreign origin: status %d, want 403", r.status)
	}
	// the metrics are in Caddy's registry, served on the admin /metrics
	m := soDo(t, "GET", p.a.AdminURL("/metrics"), nil)
	for _, want := range []string{
		`apigw_authentications_total{method="api_key",result="success"}`,
		`apigw_authentications_total{method="api_key",result="invalid_api_key"}`,
		`apigw_rejected_requests_total{problem="invalid_api_key"}`,
		`apigw_store_operation_duration_seconds_bucket{backend="redis",op="get"`,
		`apigw_store_up{backend="redis"} 1`,
	} {
		if !strings.Contains(m.body, want) {
			t.Errorf("admin /metrics lacks %s", want)
		}
	}
	if strings.Contains(m.body, "alice") {
		t.Error("a user id is a metric label")
	}
}

func TestScaleOutJTIRevocation(t *testing.T) {
	soRequireDemo(t)
	p := soStartPair(t, "")
	jti := fmt.Sprintf("jti-%d", time.Now().UnixNano())
	exp := time.Now().Add(10 * time.Minute).Unix()
	tok := soHs256(map[string]any{"sub": "bob", "jti": jti, "exp": exp})
	other := soHs256(map[string]any{"sub": "bob", "jti": jti + "-other", "exp": exp})
	for name, inst := range map[string]*testutil.Caddy{"A": p.a, "B": p.b} {
		soExpect(t, "token on "+name, soDo(t, "GET", inst.URL("/jwt/x"), nil, "Authorization", "Bearer "+tok), 200, "")
	}
	soExpect(t, "revoke on B", soDo(t, "POST", p.b.AdminURL("/apigw/revocations"), map[string]any{"jti": jti, "exp": exp}), 201, "")
	for name, inst := range map[string]*testutil.Caddy{"A": p.a, "B": p.b} {
		soExpect(t, "revoked token on "+name, soDo(t, "GET", inst.URL("/jwt/x"), nil, "Authorization", "Bearer "+tok), 401, "token_revoked")
		soExpect(t, "other token on "+name, soDo(t, "GET", inst.URL("/jwt/x"), nil, "Authorization", "Bearer "+other), 200, "")
	}
}

func TestScaleOutSessions(t *testing.T) {
	soRequireDemo(t)
	p := soStartPair(t, "")
	cookie := soLogin(t, p.a)
	soExpect(t, "session from A on B", soDo(t, "GET", p.b.URL("/session/x"), nil, "Cookie", cookie), 200, "")
	if r := soDo(t, "POST", p.a.URL("/logout"), nil, "Cookie", cookie, "Origin", "http://127.0.0.1:"+fmt.Sprint(p.a.HTTPPort)); r.status/100 != 2 {
		t.Fatalf("logout on A: %d %s", r.status, r.body)
	}
	soExpect(t, "logged-out session on B", soDo(t, "GET", p.b.URL("/session/x"), nil, "Cookie", cookie), 401, "invalid_session")
	soExpect(t, "logged-out session on A", soDo(t, "GET", p.a.URL("/session/x"), nil, "Cookie", cookie), 401, "invalid_session")

	// admin: list on B, end by user on A, refused on B
	c1, c2 := soLogin(t, p.a), soLogin(t, p.b)
	list := soDo(t, "GET", p.b.AdminURL("/apigw/sessions?user=demo"), nil)
	soExpect(t, "list sessions", list, 200, "")
	var infos []struct{ ID, User string }
	if err := json.Unmarshal([]byte(list.body), &infos); err != nil || len(infos) != 2 {
		t.Fatalf("sessions listing: %s", list.body)
	}
	if strings.Contains(list.body, strings.SplitN(strings.SplitN(c1, "=", 2)[1], ";", 2)[0]) {
		t.Fatal("the listing shows a session token")
	}
	soExpect(t, "end one on A", soDo(t, "DELETE", p.a.AdminURL("/apigw/sessions/"+infos[0].ID), nil), 204, "")
	soExpect(t, "end unknown", soDo(t, "DELETE", p.a.AdminURL("/apigw/sessions/"+infos[0].ID), nil), 404, "not_found")
	soExpect(t, "end by user on A", soDo(t, "DELETE", p.a.AdminURL("/apigw/sessions?user=demo"), nil), 204, "")
	for _, c := range []string{c1, c2} {
		soExpect(t, "ended session on B", soDo(t, "GET", p.b.URL("/session/x"), nil, "Cookie", c), 401, "invalid_session")
	}
}

func TestScaleOutLimitSmoke(t *testing.T) {
	soRequireDemo(t)
	p := soStartPair(t, "")
	// /key/* allows 100 requests per minute per key, across instances:
	// exactly, as the zone is a sliding window counter on Redis (windows
	// on whole minutes of the Redis clock; start clear of a minute's end).
	avoidWindowEdge(time.Minute, 10*time.Second)
	var ok, limited atomic.Int32
	var wg sync.WaitGroup
	for _, inst := range []*testutil.Caddy{p.a, p.b} {
		wg.Add(1)
		go func(inst *testutil.Caddy) {
			defer wg.Done()
			for i := 0; i < 60; i++ {
				r := soDo(t, "GET", inst.URL("/key/x"), nil, "X-API-Key", "demo-key-1")
				switch r.status {
				case 200:
					ok.Add(1)
				case 429:
					limited.Add(1)
				}
			}
		}(inst)
	}
	wg.Wait()
	if ok.Load() != 100 || limited.Load() != 20 {
		t.Fatalf("across two instances: %d allowed, %d limited; want 100 and 20", ok.Load(), limited.Load())
	}
}

func TestScaleOutRedisOutage(t *testing.T) {
	soRequireDemo(t)
	p := soStartPair(t, "?timeout=300ms")
	tok := soHs256(map[string]any{"sub": "carol", "jti": "outage-1", "exp": time.Now().Add(10 * time.Minute).Unix()})
	soExpect(t, "key before", soDo(t, "GET", p.a.URL("/key/x"), nil, "X-API-Key", "demo-key-1"), 200, "")

	p.redis.Stop()
	for i := 0; i < 20; i++ {
		for _, inst := range []*testutil.Caddy{p.a, p.b} {
			// auth that needs the store fails closed
			soExpect(t, "api key during outage", soDo(t, "GET", inst.URL("/key/x"), nil, "X-API-Key", "demo-key-1"), 503, "service_unavailable")
			soExpect(t, "jwt during outage", soDo(t, "GET", inst.URL("/jwt/x"), nil, "Authorization", "Bearer "+tok), 503, "service_unavailable")
			// routes that need no store keep working
			soExpect(t, "open during outage", soDo(t, "GET", inst.URL("/open/x"), nil), 200, "")
		}
	}
	soExpect(t, "admin during outage", soDo(t, "GET", p.a.AdminURL("/apigw/keys"), nil), 503, "service_unavailable")

	p.redis.Restart(t)
	for name, inst := range map[string]*testutil.Caddy{"A": p.a, "B": p.b} {
		deadline := time.Now().Add(20 * time.Second)
		var r soResult
		for time.Now().Before(deadline) {
			if r = soDo(t, "GET", inst.URL("/key/x"), nil, "X-API-Key", "demo-key-1"); r.status == 200 {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		soExpect(t, "key after recovery on "+name, r, 200, "")
		soExpect(t, "jwt after recovery on "+name, soDo(t, "GET", inst.URL("/jwt/x"), nil, "Authorization", "Bearer "+tok), 200, "")
		log := inst.Log.String()
		if n := strings.Count(log, "redis store unreachable"); n != 1 {
			t.Errorf("%s logged %d outage warnings, want 1", name, n)
		}
		if n := strings.Count(log, "redis store recovered"); n != 1 {
			t.Errorf("%s logged %d recovery lines, want 1", name, n)
		}
	}
	// a key created after the restart works on both
	_, key := soCreateKey(t, p.b, "dave")
	soExpect(t, "new key on A", soDo(t, "GET", p.a.URL("/key/x"), nil, "X-API-Key", key), 200, "")
}

// TestScaleOutSoak sends mixed traffic through two race-built instances
// for 60 s (APIGW_SOAK=1 or CI=true) or a few seconds, and then checks
// that no acknowledged write was lost: every key whose creation got a 201
// and was not deleted works on both instances and is listed; every key
// whose DELETE got a 204 is refused on both; every revoked jti is
// refused; no data race was reported.
func TestScaleOutSoak(t *testing.T) {
	soRequireDemo(t)
	t.Setenv("APIGW_CADDY_BIN", testutil.RaceCaddyBinary(t))
	dur := 4 * time.Second
	if os.Getenv("APIGW_SOAK") == "1" || os.Getenv("CI") == "true" {
		dur = 60 * time.Second
	}
	p := soStartPair(t, "")
	insts := []*testutil.Caddy{p.a, p.b}

	type keyState struct {
		id, key string
		deleted bool
	}
	var (
		mu   sync.Mutex
		keys []*keyState
		jtis []string
		errs []string
		reqs atomic.Int64
		wg   sync.WaitGroup
	)
	failure := func(format string, args ...any) {
		mu.Lock()
		if len(errs) < 20 {
			errs = append(errs, fmt.Sprintf(format, args...))
		}
		mu.Unlock()
	}
	stop := time.Now().Add(dur)
	worker := func(w int) {
		defer wg.Done()
		call := func(method, url string, body any, hdr ...string) soResult {
			reqs.Add(1)
			r, err := soTry(method, url, body, hdr...)
			if err != nil {
				failure("%v", err)
			}
			return r
		}
		for i := 0; time.Now().Before(stop); i++ {
			inst, other := insts[(w+i)%2], insts[(w+i+1)%2]
			op := i % 8
			if op == 3 && (w != 0 || i%24 != 3) {
				// a login costs a bcrypt (cost 12, slow under -race):
				// one worker logs in, one round in three
				op = 6
			}
			switch op {
			case 0: // create a key on one instance, use it on the other
				r := call("POST", inst.AdminURL("/apigw/keys"), map[string]any{"user": fmt.Sprintf("soak-%d-%d", w, i), "expires": "1h"})
				var out struct{ ID, Key string }
				if r.status != 201 || json.Unmarshal([]byte(r.body), &out) != nil || out.Key == "" {
					failure("create key: %d %s", r.status, r.body)
					continue
				}
				if r := call("GET", other.URL("/key/x"), nil, "X-API-Key", out.Key); r.status != 200 {
					failure("fresh key on the other instance: %d %s", r.status, r.body)
				}
				// shared only now, so no other worker deletes it before
				// the check above
				mu.Lock()
				keys = append(keys, &keyState{id: out.ID, key: out.Key})
				mu.Unlock()
			case 1: // delete every second key created so far
				mu.Lock()
				var victim *keyState
				for n, k := range keys {
					if n%2 == 0 && !k.deleted {
						victim = k
						victim.deleted = true
						break
					}
				}
				mu.Unlock()
				if victim != nil {
					if r := call("DELETE", inst.AdminURL("/apigw/keys/"+victim.id), nil); r.status != 204 {
						failure("DELETE key: %d %s", r.status, r.body)
					}
					if r := call("GET", other.URL("/key/x"), nil, "X-API-Key", victim.key); r.status != 401 {
						failure("deleted key on the other instance: %d %s", r.status, r.body)
					}
				}
			case 2: // JWT with a fresh jti, revoked on the other instance
				jti := fmt.Sprintf("soak-%d-%d", w, i)
				exp := time.Now().Add(10 * time.Minute).Unix()
				tok := soHs256(map[string]any{"sub": "soak", "jti": jti, "exp": exp})
				if r := call("GET", inst.URL("/jwt/x"), nil, "Authorization", "Bearer "+tok); r.status != 200 {
					failure("jwt: %d %s", r.status, r.body)
				}
				if r := call("POST", other.AdminURL("/apigw/revocations"), map[string]any{"jti": jti, "exp": exp}); r.status != 201 {
					failure("revoke: %d %s", r.status, r.body)
					continue
				}
				mu.Lock()
				jtis = append(jtis, tok)
				mu.Unlock()
				if r := call("GET", inst.URL("/jwt/x"), nil, "Authorization", "Bearer "+tok); r.code() != "token_revoked" {
					failure("revoked jwt accepted: %d %s", r.status, r.body)
				}
			case 3: // soLogin on one, use on the other, logout, refused
				r := call("POST", inst.URL("/login"), map[string]string{"username": "demo", "password": "demo-password"})
				if r.status != 200 {
					failure("login: %d %s", r.status, r.body)
					continue
				}
				cookie := ""
				for _, sc := range r.header.Values("Set-Cookie") {
					cookie, _, _ = strings.Cut(sc, ";")
				}
				if r := call("GET", other.URL("/session/x"), nil, "Cookie", cookie); r.status != 200 {
					failure("session on the other instance: %d %s", r.status, r.body)
				}
				if r := call("POST", inst.URL("/logout"), nil, "Cookie", cookie, "Origin", fmt.Sprintf("http://127.0.0.1:%d", inst.HTTPPort)); r.status >= 300 {
					failure("logout: %d %s", r.status, r.body)
				}
				if r := call("GET", other.URL("/session/x"), nil, "Cookie", cookie); r.status != 401 {
					failure("logged-out session on the other instance: %d %s", r.status, r.body)
				}
			case 4:
				if r := call("GET", inst.URL("/open/x"), nil); r.status != 200 {
					failure("open: %d", r.status)
				}
			case 5:
				if r := call("POST", inst.URL("/users"), map[string]any{"email": "a@example.com", "name": "A"}); r.status != 200 {
					failure("users: %d %s", r.status, r.body)
				}
				if r := call("POST", inst.URL("/users"), map[string]any{"email": "not-an-email", "name": "A"}); r.status != 400 {
					failure("invalid user accepted: %d %s", r.status, r.body)
				}
			case 6, 7: // use a key this worker created (live or deleted)
				mu.Lock()
				var k keyState
				if len(keys) > 0 {
					k = *keys[(i*7+w)%len(keys)]
				}
				mu.Unlock()
				if k.key == "" {
					continue
				}
				r := call("GET", inst.URL("/key/x"), nil, "X-API-Key", k.key)
				// a key being deleted right now may answer either way;
				// the final check below is strict
				if r.status != 200 && r.status != 401 {
					failure("key use: %d %s", r.status, r.body)
				}
			}
		}
	}
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go worker(w)
	}
	wg.Wait()
	for _, e := range errs {
		t.Error(e)
	}

	// nothing acknowledged was lost
	var live int
	for _, inst := range insts {
		// the listing is paged (100 keys a page by default): follow
		// the cursor to the end
		var all strings.Builder
		after := ""
		for page := 0; ; page++ {
			q := "/apigw/keys?size=100"
			if after != "" {
				q += "&after=" + url.QueryEscape(after)
			}
			list := soDo(t, "GET", inst.AdminURL(q), nil)
			soExpect(t, "final listing", list, 200, "")
			all.WriteString(list.body)
			var pg struct {
				Next string `json:"next"`
			}
			if err := json.Unmarshal([]byte(list.body), &pg); err != nil {
				t.Fatalf("final listing: %v", err)
			}
			if pg.Next == "" || page > 1000 {
				break
			}
			after = pg.Next
		}
		for _, k := range keys {
			listed := strings.Contains(all.String(), `"id":"`+k.id+`"`)
			if k.deleted == listed {
				t.Errorf("key %s deleted=%v but listed=%v", k.id, k.deleted, listed)
			}
			want := 200
			if k.deleted {
				want = 401
			} else {
				live++
			}
			if r := soDo(t, "GET", inst.URL("/key/x"), nil, "X-API-Key", k.key); r.status != want {
				t.Errorf("key %s (deleted=%v): %d, want %d", k.id, k.deleted, r.status, want)
			}
		}
		for _, tok := range jtis {
			if r := soDo(t, "GET", inst.URL("/jwt/x"), nil, "Authorization", "Bearer "+tok); r.code() != "token_revoked" {
				t.Errorf("revoked jti accepted at the end: %d", r.status)
			}
		}
		if n := testutil.RaceReports(inst.Log.String()); n > 0 {
			t.Errorf("%d data races reported", n)
		}
	}
	t.Logf("soak %s: %d requests, %d keys created (%d live), %d jtis revoked", dur, reqs.Load(), len(keys), live/2, len(jtis))
}
