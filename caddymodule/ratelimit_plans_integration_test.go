package caddymodule_test

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/apigw/caddy-apigw/internal/testutil"
)

// plansConfig limits /api/* per API key with the rate of the key's plan:
// the `tier` of its metadata (set over the admin API).
const plansConfig = `{
	admin {$APIGW_ADMIN}
	auto_https off
	apigw {
		store {$APIGW_STORE:memory}
	}
}
http://:{$APIGW_HTTP_PORT} {
	bind 127.0.0.1
	apigw_errors

	handle /api/* {
		apigw_api_key
		apigw_rate_limit {
			zone per_tier {
				key {http.auth.user.key_id}
				rate_from {http.auth.user.tier}
				plan gold 5/1h
				plan silver 3/1h
				plan default 2/1h
				algorithm sliding_window
			}
		}
		respond "ok"
	}

	handle /daily/* {
		apigw_rate_limit {
			zone daily {
				key {http.request.header.X-Client}
				rate 2/calendar_day
			}
		}
		respond "ok"
	}
}
`

// TestRateLimitPlansBinary: keys with metadata tier gold, silver, an
// unknown tier and none get their plan's quota; a PATCH of the tier moves
// the key to another plan from the next request, on memory and on Redis.
func TestRateLimitPlansBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts a real Caddy")
	}
	for _, backend := range []string{"memory", "redis"} {
		t.Run(backend, func(t *testing.T) {
			var env []string
			if backend == "redis" {
				env = []string{"APIGW_STORE=" + testutil.StartRedis(t).URL(0)}
			}
			c := testutil.StartCaddy(t, testutil.Options{Config: writeConfig(t, plansConfig), Env: env})
			newKey := func(meta map[string]string) string {
				r := soDo(t, "POST", c.AdminURL("/apigw/keys"), map[string]any{"user": "u", "metadata": meta})
				soExpect(t, "create key", r, 201, "")
				var out struct{ ID, Key string }
				_ = json.Unmarshal([]byte(r.body), &out)
				return out.Key
			}
			for _, tc := range []struct {
				name   string
				meta   map[string]string
				quota  int
				policy string
			}{
				{"gold", map[string]string{"tier": "gold"}, 5, `"per_tier";q=5;w=3600`},
				{"silver", map[string]string{"tier": "silver"}, 3, `"per_tier";q=3;w=3600`},
				{"unknown tier", map[string]string{"tier": "platinum"}, 2, `"per_tier";q=2;w=3600`},
				{"no tier", nil, 2, `"per_tier";q=2;w=3600`},
			} {
				key := newKey(tc.meta)
				for i := 0; i < tc.quota; i++ {
					r := soDo(t, "GET", c.URL("/api/x"), nil, "X-API-Key", key)
					soExpect(t, tc.name, r, 200, "")
					if got := r.header.Get("RateLimit-Policy"); got != tc.policy {
						t.Fatalf("%s: RateLimit-Policy %q, want %q", tc.name, got, tc.policy)
					}
				}
				soExpect(t, tc.name+" over quota", soDo(t, "GET", c.URL("/api/x"), nil, "X-API-Key", key), 429, "rate_limited")
			}
			// an upgrade applies from the next request: the gold plan counts apart
			r := soDo(t, "POST", c.AdminURL("/apigw/keys"), map[string]any{"user": "v", "id": "upgrade-" + backend, "metadata": map[string]string{"tier": "silver"}})
			var out struct{ Key string }
			_ = json.Unmarshal([]byte(r.body), &out)
			for i := 0; i < 3; i++ {
				soExpect(t, "silver before the upgrade", soDo(t, "GET", c.URL("/api/x"), nil, "X-API-Key", out.Key), 200, "")
			}
			soExpect(t, "silver exhausted", soDo(t, "GET", c.URL("/api/x"), nil, "X-API-Key", out.Key), 429, "rate_limited")
			soExpect(t, "upgrade", adminRaw(t, "PATCH", c.AdminURL("/apigw/keys/upgrade-"+backend), "application/merge-patch+json", `{"metadata":{"tier":"gold"}}`), 200, "")
			soExpect(t, "gold after the upgrade", soDo(t, "GET", c.URL("/api/x"), nil, "X-API-Key", out.Key), 200, "")

			// a calendar quota: 2 per UTC day, back at midnight UTC
			for i := 0; i < 2; i++ {
				r := soDo(t, "GET", c.URL("/daily/x"), nil, "X-Client", backend)
				soExpect(t, "daily quota", r, 200, "")
				if r.header.Get("RateLimit-Policy") != `"daily";q=2;w=86400` {
					t.Fatalf("RateLimit-Policy %q", r.header.Get("RateLimit-Policy"))
				}
			}
			r = soDo(t, "GET", c.URL("/daily/x"), nil, "X-Client", backend)
			soExpect(t, "daily quota spent", r, 429, "rate_limited")
			midnight := time.Now().UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
			ra, err := strconv.Atoi(r.header.Get("Retry-After"))
			if want := int(time.Until(midnight).Seconds()); err != nil || ra < want-2 || ra > want+2 {
				t.Fatalf("Retry-After %q, want about %d (until 00:00 UTC)", r.header.Get("Retry-After"), want)
			}
		})
	}
}
