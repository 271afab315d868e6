package caddymodule_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/apigw/caddy-apigw/internal/testutil"
)

// storeErrorLine matches a non-zero apigw_store_errors_total sample.
var storeErrorLine = regexp.MustCompile(`(?m)^apigw_store_errors_total\{[^}]*\} [1-9]`)

// TestMetricsHealthyRedis runs the demo on a real redis-server (7.0 on the
// CI image: it refuses go-redis's CLIENT SETINFO) and flushes the Lua
// scripts mid-run: a healthy start and a script reload count no store
// error, successful and failed authentications are counted under the
// Prometheus names, and the memory store has no store metrics at all.
func TestMetricsHealthyRedis(t *testing.T) {
	soRequireDemo(t)
	rs := testutil.StartRedis(t)
	inst := testutil.StartCaddy(t, testutil.Options{Env: []string{"APIGW_STORE=" + rs.URL(0)}})
	for i := 0; i < 3; i++ {
		soExpect(t, "demo key", soDo(t, "GET", inst.URL("/key/x"), nil, "X-API-Key", "demo-key-1"), 200, "")
	}
	if got := testutil.RedisCommand(t, rs.Port, "SCRIPT", "FLUSH"); !strings.Contains(got, "OK") {
		t.Fatalf("SCRIPT FLUSH: %q", got)
	}
	for i := 0; i < 3; i++ {
		soExpect(t, "demo key after SCRIPT FLUSH", soDo(t, "GET", inst.URL("/key/x"), nil, "X-API-Key", "demo-key-1"), 200, "")
	}
	soExpect(t, "wrong key", soDo(t, "GET", inst.URL("/key/x"), nil, "X-API-Key", "wrong"), 401, "invalid_api_key")
	m := soDo(t, "GET", inst.AdminURL("/metrics"), nil).body
	if l := storeErrorLine.FindString(m); l != "" {
		t.Errorf("a store error was counted on a healthy run: %s", l)
	}
	for _, want := range []string{
		`apigw_authentications_total{method="api_key",result="success"} 6`,
		`apigw_authentications_total{method="api_key",result="invalid_api_key"} 1`,
		`apigw_rejected_requests_total{problem="invalid_api_key"} 1`,
		`apigw_rate_limit_decisions_total{result="allowed",zone="per_key"} 6`,
		`apigw_store_up{backend="redis"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	for _, line := range strings.Split(m, "\n") {
		if strings.HasPrefix(line, "apigw_") && strings.Contains(line, `code="`) {
			t.Errorf("a label called code (ours are problem codes): %s", line)
		}
	}

	mem := testutil.StartCaddy(t, testutil.Options{})
	soExpect(t, "demo key on memory", soDo(t, "GET", mem.URL("/key/x"), nil, "X-API-Key", "demo-key-1"), 200, "")
	if mm := soDo(t, "GET", mem.AdminURL("/metrics"), nil).body; strings.Contains(mm, "apigw_store_") {
		t.Error("store metrics with the memory store")
	} else if !strings.Contains(mm, "apigw_authentications_total") {
		t.Error("no apigw metrics on the memory instance")
	}
}
