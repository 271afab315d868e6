package caddymodule_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apigw/caddy-apigw/internal/testutil"
)

// rateLimitConfig is the gateway of the integration tests: routes limited
// by a client header (the API-key provider is tested in the demo tests),
// a failed-login route whose `respond` answers 401 unless the password
// header is right, and fail-open/fail-closed routes for Redis outages.
const rateLimitConfig = `{
	admin {$APIGW_ADMIN}
	auto_https off
	apigw {
		store {$APIGW_STORE:memory}
	}
}
http://:{$APIGW_HTTP_PORT} {
	bind 127.0.0.1
	apigw_errors

	handle /key/* {
		apigw_rate_limit {
			zone per_key {
				key {http.request.header.X-Client}
				rate 100/1m
			}
			legacy_headers
		}
		respond "{$BODY:ok}"
	}

	handle /exact/* {
		apigw_rate_limit {
			zone exact {
				key {http.request.header.X-Client}
				rate 20/1h
			}
			on_store_error fail_closed
		}
		respond "ok"
	}

	handle /open/* {
		apigw_rate_limit {
			zone open {
				key {client_ip}
				rate 1000/1h
			}
			on_store_error fail_open
		}
		respond "ok"
	}

	handle /login {
		apigw_rate_limit {
			zone login_failures {
				key {client_ip}
				rate 5/15m
				count_status 401
			}
		}
		@good header X-Password good
		respond @good "welcome" 200
		respond "bad credentials" 401
	}
}
`

func writeConfig(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func doReq(t *testing.T, method, url string, hdr ...string) (*http.Response, string) {
	t.Helper()
	return doReqBody(t, method, url, "", hdr...)
}

func doReqBody(t *testing.T, method, url, body string, hdr ...string) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// checkProblem asserts a problem JSON body with code and the request id
// of the response header.
func checkProblem(t *testing.T, resp *http.Response, body string, status int, code string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d; body %s", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json", ct)
	}
	var p struct {
		Status    int    `json:"status"`
		Code      string `json:"code"`
		RequestID string `json:"request_id"`
	}
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		t.Fatalf("problem body %q: %v", body, err)
	}
	if p.Status != status || p.Code != code || p.RequestID == "" || p.RequestID != resp.Header.Get("X-Request-ID") {
		t.Fatalf("problem %+v (X-Request-ID %q), want %d %s", p, resp.Header.Get("X-Request-ID"), status, code)
	}
}

func TestRateLimitIntegrationPerKey(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts a real Caddy")
	}
	c := testutil.StartCaddy(t, testutil.Options{Config: writeConfig(t, rateLimitConfig)})
	resp, body := exhaust(t, c.URL("/key/x"), "per_key", 100, time.Minute, "X-Client", "client-a")
	checkProblem(t, resp, body, 429, "rate_limited")
	ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || ra != 1 {
		t.Fatalf("Retry-After %q, want 1 (one request per 600ms)", resp.Header.Get("Retry-After"))
	}
	if got := resp.Header.Get("RateLimit"); got != `"per_key";r=0;t=1` {
		t.Fatalf("RateLimit on 429: %q", got)
	}
	if resp.Header.Get("RateLimit-Policy") != `"per_key";q=100;w=60` || resp.Header.Get("X-RateLimit-Remaining") != "0" ||
		resp.Header.Get("X-RateLimit-Limit") != "100" {
		t.Fatalf("429 headers: %v", resp.Header)
	}
	// another key has its own budget
	if resp, _ := doReq(t, "GET", c.URL("/key/x"), "X-Client", "client-b"); resp.StatusCode != 200 {
		t.Fatalf("another key got %d", resp.StatusCode)
	}
	// waiting out Retry-After is enough
	time.Sleep(time.Duration(ra) * time.Second)
	if resp, _ := doReq(t, "GET", c.URL("/key/x"), "X-Client", "client-a"); resp.StatusCode != 200 {
		t.Fatalf("after waiting Retry-After: %d", resp.StatusCode)
	}
	// the deny was audited with its zone
	waitLogContains(t, c, `"zone":"per_key"`)
}

func TestRateLimitIntegrationLoginFailures(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts a real Caddy")
	}
	c := testutil.StartCaddy(t, testutil.Options{Config: writeConfig(t, rateLimitConfig)})
	// successful logins do not count
	for i := 0; i < 8; i++ {
		if resp, body := doReq(t, "POST", c.URL("/login"), "X-Password", "good"); resp.StatusCode != 200 || body != "welcome" {
			t.Fatalf("good login %d: %d %s", i, resp.StatusCode, body)
		}
	}
	for i := 1; i <= 5; i++ {
		// a spoofed X-Forwarded-For from an untrusted peer changes nothing
		resp, _ := doReq(t, "POST", c.URL("/login"), "X-Password", "guess"+strconv.Itoa(i),
			"X-Forwarded-For", "203.0.113."+strconv.Itoa(i))
		if resp.StatusCode != 401 {
			t.Fatalf("failed attempt %d: %d, want 401", i, resp.StatusCode)
		}
		if got, want := resp.Header.Get("RateLimit"), `"login_failures";r=`+strconv.Itoa(5-i)+`;`; !strings.HasPrefix(got, want) {
			t.Fatalf("attempt %d: RateLimit %q, want prefix %q", i, got, want)
		}
	}
	// the 6th attempt is refused, even with the right password
	for _, pw := range []string{"guess6", "good"} {
		resp, body := doReq(t, "POST", c.URL("/login"), "X-Password", pw)
		checkProblem(t, resp, body, 429, "rate_limited")
		ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
		if err != nil || ra < 170 || ra > 180 {
			t.Fatalf("Retry-After %q, want about 180 (15m/5)", resp.Header.Get("Retry-After"))
		}
	}
}

// Behind a trusted proxy, {client_ip} is the forwarded client address, so
// each client behind the proxy has its own failed-login budget.
func TestRateLimitIntegrationTrustedProxy(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts a real Caddy")
	}
	cfg := strings.Replace(rateLimitConfig, "\tauto_https off\n", "\tauto_https off\n\tservers {\n\t\ttrusted_proxies static 127.0.0.1/32\n\t}\n", 1)
	c := testutil.StartCaddy(t, testutil.Options{Config: writeConfig(t, cfg)})
	for i := 1; i <= 5; i++ {
		if resp, _ := doReq(t, "POST", c.URL("/login"), "X-Forwarded-For", "203.0.113.1"); resp.StatusCode != 401 {
			t.Fatalf("attempt %d: %d", i, resp.StatusCode)
		}
	}
	resp, body := doReq(t, "POST", c.URL("/login"), "X-Forwarded-For", "203.0.113.1")
	checkProblem(t, resp, body, 429, "rate_limited")
	if resp, _ := doReq(t, "POST", c.URL("/login"), "X-Forwarded-For", "203.0.113.2"); resp.StatusCode != 401 {
		t.Fatalf("another client behind the proxy: %d, want 401 (own budget)", resp.StatusCode)
	}
}

func TestRateLimitIntegrationReloadKeepsCounters(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts a real Caddy")
	}
	c := testutil.StartCaddy(t, testutil.Options{Config: writeConfig(t, rateLimitConfig)})
	for i := 0; i < 15; i++ {
		if resp, _ := doReq(t, "GET", c.URL("/exact/x"), "X-Client", "r"); resp.StatusCode != 200 {
			t.Fatalf("request %d: %d", i, resp.StatusCode)
		}
	}
	// POST /load of the same Caddyfile with one visible change (the /key
	// body), forced, through the admin API
	cfg := strings.Replace(rateLimitConfig, `respond "{$BODY:ok}"`, `respond "reloaded"`, 1)
	cfg = strings.NewReplacer("{$APIGW_ADMIN}", c.AdminAddr, "{$APIGW_HTTP_PORT}", strconv.Itoa(c.HTTPPort)).Replace(cfg)
	req, _ := http.NewRequest("POST", c.AdminURL("/load"), strings.NewReader(cfg))
	req.Header.Set("Content-Type", "text/caddyfile")
	req.Header.Set("Cache-Control", "must-revalidate")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST /load: %d %s", resp.StatusCode, b)
	}
	if _, body := doReq(t, "GET", c.URL("/key/x"), "X-Client", "r"); body != "reloaded" {
		t.Fatalf("config not reloaded: /key body %q", body)
	}
	allowed := 0
	for i := 0; i < 10; i++ {
		if resp, _ := doReq(t, "GET", c.URL("/exact/x"), "X-Client", "r"); resp.StatusCode == 200 {
			allowed++
		}
	}
	if allowed != 5 {
		t.Fatalf("%d allowed after the reload, want 5 (20 - 15 before it): the reload reset the counters", allowed)
	}
}

// Two Caddy processes sharing one real redis-server allow exactly the
// limit in total.
func TestRateLimitIntegrationRedisTwoInstances(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts real Caddy and redis-server")
	}
	rd := testutil.StartRedis(t)
	cfg := writeConfig(t, rateLimitConfig)
	env := []string{"APIGW_STORE=" + rd.URL(0)}
	a := testutil.StartCaddy(t, testutil.Options{Config: cfg, Env: env})
	b := testutil.StartCaddy(t, testutil.Options{Config: cfg, Env: env})
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(c *testutil.Caddy) {
			defer wg.Done()
			for i := 0; i < 6; i++ {
				resp, err := http.Get(c.URL("/exact/x?client=shared"))
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				mu.Lock()
				codes[resp.StatusCode]++
				mu.Unlock()
			}
		}(map[bool]*testutil.Caddy{true: a, false: b}[g%2 == 0])
	}
	wg.Wait()
	if codes[200] != 20 || codes[429] != 28 {
		t.Fatalf("status counts %v across two instances, want exactly 20×200 and 28×429", codes)
	}
}

// Redis killed → declared fail mode with one warning → Redis restarted →
// limits apply again without restarting Caddy.
func TestRateLimitIntegrationRedisOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts real Caddy and redis-server")
	}
	rd := testutil.StartRedis(t)
	c := testutil.StartCaddy(t, testutil.Options{Config: writeConfig(t, rateLimitConfig),
		Env: []string{"APIGW_STORE=" + rd.URL(0)}})
	if resp, _ := doReq(t, "GET", c.URL("/exact/x"), "X-Client", "o"); resp.StatusCode != 200 || resp.Header.Get("RateLimit") == "" {
		t.Fatalf("before the outage: %d, RateLimit %q", resp.StatusCode, resp.Header.Get("RateLimit"))
	}
	rd.Stop()
	for i := 0; i < 20; i++ {
		resp, body := doReq(t, "GET", c.URL("/exact/x"), "X-Client", "o")
		checkProblem(t, resp, body, 503, "service_unavailable")
		resp, body = doReq(t, "GET", c.URL("/open/x"))
		if resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("fail_open route during the outage: %d %s", resp.StatusCode, body)
		}
		if resp.Header.Get("RateLimit") != "" || resp.Header.Get("RateLimit-Policy") == "" {
			t.Fatalf("fail_open headers during the outage: %v", resp.Header)
		}
	}
	waitLogContains(t, c, "rate limit store unavailable")
	if n := strings.Count(c.Log.String(), "rate limit store unavailable"); n != 1 {
		t.Fatalf("%d outage warnings for 40 failed requests, want 1", n)
	}
	rd.Restart(t)
	deadline := time.Now().Add(20 * time.Second)
	var resp *http.Response
	for time.Now().Before(deadline) {
		resp, _ = doReq(t, "GET", c.URL("/exact/x"), "X-Client", "o")
		if resp.StatusCode == 200 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("no recovery after Redis came back: %d", resp.StatusCode)
	}
	waitLogContains(t, c, "rate limit store recovered")
	// limits apply again: the restarted Redis lost its data, 19 more pass
	allowed := 0
	for i := 0; i < 25; i++ {
		if resp, _ := doReq(t, "GET", c.URL("/exact/x"), "X-Client", "o"); resp.StatusCode == 200 {
			allowed++
		}
	}
	if allowed != 19 {
		t.Fatalf("%d allowed after recovery, want 19", allowed)
	}
}

// waitLog waits until the process log (written through a pipe) contains s.
func waitLogContains(t *testing.T, c *testutil.Caddy, s string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(c.Log.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("log never contained %q", s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// exhaust sends requests to url until one is refused and returns that
// response. With burst n and one request per interval refilled, the
// number allowed must be n plus what refilled while it ran (computed from
// the measured time, so a slow machine does not fail the test), and every
// allowed response must carry the zone's RateLimit field with a
// consistent remaining count.
func exhaust(t *testing.T, url, zone string, n int, window time.Duration, hdr ...string) (*http.Response, string) {
	t.Helper()
	interval := window / time.Duration(n)
	start := time.Now()
	for i := 1; ; i++ {
		resp, body := doReq(t, "GET", url, hdr...)
		refilled := int(time.Since(start) / interval)
		if resp.StatusCode == http.StatusTooManyRequests {
			if allowed := i - 1; allowed < n || allowed > n+refilled {
				t.Fatalf("%d allowed before the first 429, want %d (+%d refilled meanwhile)", allowed, n, refilled)
			}
			return resp, body
		}
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, body)
		}
		if i > n+refilled {
			t.Fatalf("request %d allowed; burst %d, %d refilled", i, n, refilled)
		}
		rl := resp.Header.Get("RateLimit")
		prefix := `"` + zone + `";r=`
		if !strings.HasPrefix(rl, prefix) {
			t.Fatalf("request %d: RateLimit %q, want %s…", i, rl, prefix)
		}
		r, err := strconv.Atoi(rl[len(prefix):strings.Index(rl, ";t=")])
		if err != nil || r < n-i || r > n-i+refilled {
			t.Fatalf("request %d: RateLimit %q, want r=%d (+%d refilled)", i, rl, n-i, refilled)
		}
	}
}
