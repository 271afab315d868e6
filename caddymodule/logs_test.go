package caddymodule_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apigw/caddy-apigw/internal/testutil"
)

// logLines parses every line of a Caddy process log as JSON; a line that
// is not JSON (e.g. go-redis printing with the standard log package) fails
// the test.
func logLines(t *testing.T, log string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(log, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("log line is not JSON: %q", line)
			continue
		}
		out = append(out, m)
	}
	return out
}

// TestLogsStoreOutage: a Redis outage under traffic writes one WARN when
// it starts and one INFO when it ends, no ERROR per request, and every
// line (go-redis's own included) is JSON.
func TestLogsStoreOutage(t *testing.T) {
	soRequireDemo(t)
	rs := testutil.StartRedis(t)
	c := testutil.StartCaddy(t, testutil.Options{Env: []string{"APIGW_STORE=" + rs.URL(0) + "?timeout=300ms"}})
	tok := soHs256(map[string]any{"sub": "carol", "jti": "logs-1", "exp": time.Now().Add(10 * time.Minute).Unix()})
	cookie := soLogin(t, c)
	soExpect(t, "key before", soDo(t, "GET", c.URL("/key/x"), nil, "X-API-Key", "demo-key-1"), 200, "")

	rs.Stop()
	for i := 0; i < 5; i++ {
		soExpect(t, "api key during outage", soDo(t, "GET", c.URL("/key/x"), nil, "X-API-Key", "demo-key-1"), 503, "service_unavailable")
		soExpect(t, "jwt during outage", soDo(t, "GET", c.URL("/jwt/x"), nil, "Authorization", "Bearer "+tok), 503, "service_unavailable")
		if r := soDo(t, "GET", c.URL("/session/x"), nil, "Cookie", cookie); r.status == 200 {
			t.Fatalf("session during outage: 200")
		}
		if r := soDo(t, "POST", c.URL("/login"), map[string]string{"username": "demo", "password": "demo-password"}); r.status == 200 {
			t.Fatalf("login during outage: 200")
		}
	}
	rs.Restart(t)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) && !strings.Contains(c.Log.String(), "redis store recovered") {
		soDo(t, "GET", c.URL("/key/x"), nil, "X-API-Key", "demo-key-1")
		time.Sleep(50 * time.Millisecond)
	}
	soExpect(t, "key after recovery", soDo(t, "GET", c.URL("/key/x"), nil, "X-API-Key", "demo-key-1"), 200, "")

	var warns, infos int
	for _, m := range logLines(t, c.Log.String()) {
		switch {
		case m["level"] == "error":
			t.Errorf("ERROR line during a store outage: %v", m)
		case m["msg"] == "redis store unreachable: requests that need it fail with 503 until it recovers" && m["level"] == "warn":
			warns++
		case m["msg"] == "redis store recovered" && m["level"] == "info":
			infos++
		}
	}
	if warns != 1 || infos != 1 {
		t.Errorf("outage logged %d WARN and %d INFO store lines, want 1 and 1", warns, infos)
	}
}

// TestLogsFailedLoginUsername: the name tried in a failed login for an
// unknown account is not written to any log line, only a keyed hash of
// it that is the same for the same name.
func TestLogsFailedLoginUsername(t *testing.T) {
	soRequireDemo(t)
	c := testutil.StartCaddy(t, testutil.Options{})
	const typed = "Tr0ub4dor-typed-into-username"
	for i := 0; i < 2; i++ {
		soExpect(t, "failed login", soDo(t, "POST", c.URL("/login"), map[string]string{"username": typed, "password": "x"}), 401, "invalid_credentials")
	}
	soExpect(t, "known user, wrong password", soDo(t, "POST", c.URL("/login"), map[string]string{"username": "demo", "password": "x"}), 401, "invalid_credentials")
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && strings.Count(c.Log.String(), `"msg":"login_failed"`) < 3 {
		time.Sleep(20 * time.Millisecond)
	}
	log := c.Log.String()
	if strings.Contains(log, typed) || strings.Contains(log, "Tr0ub4dor") {
		t.Fatalf("the attempted username is in the log:\n%s", log)
	}
	var hashes []string
	var known int
	for _, m := range logLines(t, log) {
		if m["msg"] != "login_failed" {
			continue
		}
		switch m["user"] {
		case "(unknown)":
			h, _ := m["user_hash"].(string)
			if len(h) != 12 {
				t.Errorf("user_hash %q, want 12 hex digits", h)
			}
			hashes = append(hashes, h)
		case "demo":
			known++
		default:
			t.Errorf("login_failed user %v", m["user"])
		}
	}
	if len(hashes) != 2 || hashes[0] != hashes[1] || known != 1 {
		t.Fatalf("login_failed lines: hashes %v, known %d; want two equal hashes and one known account", hashes, known)
	}
}

// TestLogsAuditTraceIDs: with Caddy's tracing directive on, audit lines
// carry the trace_id and span_id it sets.
func TestLogsAuditTraceIDs(t *testing.T) {
	soRequireDemo(t)
	c := testutil.StartCaddy(t, testutil.Options{
		Config: filepath.Join("testdata", "tracing_audit.caddyfile"),
		Env:    []string{"OTEL_TRACES_EXPORTER=none"},
	})
	// no apigw_errors in this config: Caddy's own empty 401
	soExpect(t, "failed login", soDo(t, "POST", c.URL("/login"), map[string]string{"username": "demo", "password": "x"}), 401, "")
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && !strings.Contains(c.Log.String(), `"login_failed"`) {
		time.Sleep(20 * time.Millisecond)
	}
	var found bool
	for _, m := range logLines(t, c.Log.String()) {
		if m["msg"] != "login_failed" {
			continue
		}
		found = true
		tid, _ := m["trace_id"].(string)
		sid, _ := m["span_id"].(string)
		if len(tid) != 32 || len(sid) != 16 {
			t.Fatalf("audit line trace_id %q span_id %q, want 32 and 16 hex digits: %v", tid, sid, m)
		}
	}
	if !found {
		t.Fatalf("no login_failed audit line:\n%s", c.Log.String())
	}
}
