package caddymodule_test

import (
	"encoding/json"
	"math"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apigw/caddy-apigw/internal/testutil"
)

// requireDemo skips the test while Caddyfile.example still uses directives
// of features not merged into this build (the demo needs every engineer's
// modules), and fails on any other adapt error.
func requireDemo(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: starts a real Caddy")
	}
	cmd := exec.Command(testutil.CaddyBinary(t), "adapt", "--config", filepath.Join(testutil.RepoRoot(), "Caddyfile.example"))
	out, err := cmd.CombinedOutput()
	if err == nil {
		return
	}
	if strings.Contains(string(out), "unrecognized directive") {
		t.Skipf("Caddyfile.example needs modules not in this build yet: %s", lastLine(string(out)))
	}
	t.Fatalf("caddy adapt Caddyfile.example: %v\n%s", err, out)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// DESIGN.md: /key/* allows 100 requests per minute per key. The zone runs
// the sliding window counter, so it is exact: the 101st request of a
// minute gets 429, however fast or slow the first 100 came.
func TestDemoKeyRateLimit(t *testing.T) {
	requireDemo(t)
	c := testutil.StartCaddy(t, testutil.Options{})
	resp, body, at := exhaustWindow(t, c.URL("/key/things"), "per_key", 100, time.Minute, "X-API-Key", "demo-key-1")
	checkProblem(t, resp, body, 429, "rate_limited")
	// the 101st fits once the window has ended and the previous count of
	// 100 has decayed to 99: 0.6 s into the next minute
	ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	lo, hi := retryRange(at, time.Minute, 100)
	if err != nil || ra < lo || ra > hi {
		t.Fatalf("Retry-After %q, want %d…%d (to the end of the minute + 0.6s)", resp.Header.Get("Retry-After"), lo, hi)
	}
	if resp.Header.Get("RateLimit") != `"per_key";r=0;t=`+strconv.Itoa(ra) || resp.Header.Get("RateLimit-Policy") != `"per_key";q=100;w=60` {
		t.Fatalf("429 headers: %v", resp.Header)
	}
	// per key, not per user: a second key of the same user has its own bucket
	resp, body = doReqBody(t, "POST", c.AdminURL("/apigw/keys"), `{"user":"demo-user"}`, "Content-Type", "application/json")
	var created struct{ Key string }
	if err := json.Unmarshal([]byte(body), &created); resp.StatusCode != 201 || err != nil || created.Key == "" {
		t.Fatalf("POST /apigw/keys: %d %s", resp.StatusCode, body)
	}
	// t: the one unit used comes back when it stops weighing, at the end
	// of the next minute (60 to 120 s away)
	if resp, body := doReq(t, "GET", c.URL("/key/things"), "X-API-Key", created.Key); resp.StatusCode != 200 ||
		!strings.HasPrefix(resp.Header.Get("RateLimit"), `"per_key";r=99;t=`) || rateLimitT(resp.Header.Get("RateLimit")) <= 60 ||
		rateLimitT(resp.Header.Get("RateLimit")) > 120 {
		t.Fatalf("second key of the same user: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	// a request without a key is refused by authentication, not counted
	// in the key's bucket
	if resp, _ := doReq(t, "GET", c.URL("/key/things")); resp.StatusCode != 401 {
		t.Fatalf("no key: %d, want 401", resp.StatusCode)
	}
}

// DESIGN.md: POST /login allows 5 failed attempts per 15 minutes per client.
func TestDemoLoginRateLimit(t *testing.T) {
	requireDemo(t)
	c := testutil.StartCaddy(t, testutil.Options{})
	login := func(password string) (int, string, string) {
		t.Helper()
		resp, body := doReqBody(t, "POST", c.URL("/login"), `{"username":"demo","password":"`+password+`"}`,
			"Content-Type", "application/json")
		return resp.StatusCode, resp.Header.Get("RateLimit"), body
	}
	// a successful login does not count
	if status, _, body := login("demo-password"); status != 200 {
		t.Fatalf("good login: %d %s", status, body)
	}
	for i := 1; i <= 5; i++ {
		status, rl, body := login("wrong-" + strconv.Itoa(i))
		if status != 401 || !strings.Contains(body, "invalid_credentials") {
			t.Fatalf("failed attempt %d: %d %s", i, status, body)
		}
		if want := `"login_failures";r=` + strconv.Itoa(5-i) + `;`; !strings.HasPrefix(rl, want) {
			t.Fatalf("attempt %d: RateLimit %q, want prefix %q", i, rl, want)
		}
	}
	resp, body := doReqBody(t, "POST", c.URL("/login"), `{"username":"demo","password":"demo-password"}`,
		"Content-Type", "application/json")
	checkProblem(t, resp, body, 429, "rate_limited")
	if resp.Header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
}

// windowSpan is a request's send and answer times.
type windowSpan struct{ sent, done time.Time }

// avoidWindowEdge waits for the next window when fewer than margin are
// left in the current one. Sliding windows start at multiples of the
// window in Unix time, in memory zones and in Redis alike.
func avoidWindowEdge(window, margin time.Duration) {
	if left := window - time.Duration(time.Now().UnixNano()%int64(window)); left < margin {
		time.Sleep(left + 50*time.Millisecond)
	}
}

// pastEdge returns how far end is into a window that began after start
// (0 when start and end are in the same window).
func pastEdge(start, end time.Time, window time.Duration) time.Duration {
	k := end.UnixNano() / int64(window)
	if start.UnixNano()/int64(window) == k {
		return 0
	}
	return time.Duration(end.UnixNano() - k*int64(window))
}

// exhaustWindow sends requests to a sliding_window zone of n per window
// until the first 429, and checks that exactly n passed, with RateLimit
// r=n-1…0 and t=0 while r>0. Only if the run straddled a window boundary
// (it starts clear of one, so only on a very slow machine) may more pass:
// the previous window's count weighs less by n·x/window at x into the
// next window.
func exhaustWindow(t *testing.T, url, zone string, n int, window time.Duration, hdr ...string) (*http.Response, string, windowSpan) {
	t.Helper()
	avoidWindowEdge(window, 10*time.Second)
	start := time.Now()
	for i := 1; ; i++ {
		sent := time.Now()
		resp, body := doReq(t, "GET", url, hdr...)
		done := time.Now()
		extra := int(math.Ceil(float64(n) * float64(pastEdge(start, done, window)) / float64(window)))
		if resp.StatusCode == http.StatusTooManyRequests {
			if allowed := i - 1; allowed < n || allowed > n+extra {
				t.Fatalf("%d allowed before the first 429, want exactly %d (+%d after a window edge)", allowed, n, extra)
			}
			return resp, body, windowSpan{sent, done}
		}
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, body)
		}
		if i > n+extra {
			t.Fatalf("request %d allowed; limit %d per %v", i, n, window)
		}
		if extra > 0 {
			continue
		}
		want := `"` + zone + `";r=` + strconv.Itoa(n-i) + `;t=`
		// t is the seconds until one more unit, never 0: within two windows
		if rl := resp.Header.Get("RateLimit"); !strings.HasPrefix(rl, want) || rateLimitT(rl) <= 0 || rateLimitT(rl) > 2*int(window/time.Second) {
			t.Fatalf("request %d: RateLimit %q, want %s<1…%d>", i, rl, want, 2*int(window/time.Second))
		}
	}
}

// retryRange is the Retry-After range for a request to an exhausted
// sliding window of n per window sent within at: the rest of the window,
// then window/n for the previous count to decay by one (±1 s of clock
// offset between this process and the gateway's table).
func retryRange(at windowSpan, window time.Duration, n int) (lo, hi int) {
	left := func(t time.Time) float64 {
		return (window - time.Duration(t.UnixNano()%int64(window)) + window/time.Duration(n)).Seconds()
	}
	if pastEdge(at.sent, at.done, window) > 0 {
		return 1, int(math.Ceil((2 * window).Seconds()))
	}
	return int(math.Ceil(left(at.done))) - 1, int(math.Ceil(left(at.sent))) + 1
}

// rateLimitT returns the t parameter of a one-item RateLimit field (-1 if
// there is none).
func rateLimitT(field string) int {
	_, t, ok := strings.Cut(field, ";t=")
	if !ok {
		return -1
	}
	n, err := strconv.Atoi(t)
	if err != nil {
		return -1
	}
	return n
}
