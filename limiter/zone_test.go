package limiter

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/apigw/caddy-apigw/failure"
)

func TestCheckZone(t *testing.T) {
	z, err := CheckZone(ZoneConfig{Name: "per_key", Key: "{client_ip}|{path}", Rate: "100/1m", CountStatus: []int{401}})
	if err != nil {
		t.Fatal(err)
	}
	if z.Burst != 100 || z.MaxKeys != DefaultMaxKeys || !z.Counts(401) || z.Counts(200) || len(z.Key.Parts) != 3 {
		t.Fatalf("zone %+v", z)
	}
	if got := z.Default.Signature(); got != "100-60000ms-100" {
		t.Fatalf("signature %q", got)
	}
	if got := z.Default.PolicyItem; got != `"per_key";q=100;w=60` {
		t.Fatalf("policy item %q", got)
	}
	p, err := CheckZone(ZoneConfig{Name: "tier", Key: "{k}", RateFrom: "{tier}", Plans: map[string]string{"gold": "10/1s", DefaultPlan: "1/1s"}})
	if err != nil {
		t.Fatal(err)
	}
	if p.Limit("gold").Policy.Rate.Events != 10 || p.Limit("none") != p.Default || p.Default.Signature() != "1-1000ms-1-plan-default" {
		t.Fatalf("plans %+v", p.Limits)
	}
	for _, tc := range []struct {
		c    ZoneConfig
		want string
	}{
		{ZoneConfig{Name: "a b", Key: "{k}", Rate: "1/1m"}, "name must be"},
		{ZoneConfig{Name: "z", Rate: "1/1m"}, "zone z: key is required"},
		{ZoneConfig{Name: "z", Key: "constant", Rate: "1/1m"}, "has no placeholder"},
		{ZoneConfig{Name: "z", Key: "{k}"}, "zone z: rate is required"},
		{ZoneConfig{Name: "z", Key: "{k}", Rate: "0/1m"}, `zone z: rate "0/1m": events must be a positive integer`},
		{ZoneConfig{Name: "z", Key: "{k}", Rate: "5/1m", Burst: 2, Algorithm: "sliding_window"}, "burst 2 is not supported by algorithm sliding_window"},
		{ZoneConfig{Name: "z", Key: "{k}", Rate: "5/1m", CountStatus: []int{99}}, "count_status 99"},
		{ZoneConfig{Name: "z", Key: "{k}", Rate: "5/1m", IPv6Prefix: 129}, "zone z ipv6_prefix 129"},
		{ZoneConfig{Name: "z", Key: "{k}", RateFrom: "{t}", Plans: map[string]string{"gold": "1/1m"}}, "plan default"},
	} {
		if _, err := CheckZone(tc.c); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CheckZone(%+v) = %v, want %q", tc.c, err, tc.want)
		}
	}
	if err := CheckOptions("open", "", 0, 0); err == nil || !strings.HasPrefix(err.Error(), "on_store_error") {
		t.Errorf("CheckOptions: %v", err)
	}
	if IPv6Bits(0, 0) != DefaultIPv6Prefix || IPv6Bits(56, 0) != 56 || IPv6Bits(56, 48) != 48 {
		t.Error("IPv6Bits does not prefer the zone, then the handler")
	}
}

func TestFieldsAndRefusal(t *testing.T) {
	a, _ := CheckZone(ZoneConfig{Name: "a", Key: "{k}", Rate: "10/1m"})
	b, _ := CheckZone(ZoneConfig{Name: "b", Key: "{k}", Rate: "5/1s"})
	ds := []Decision{
		{Zone: a, Limit: a.Default, Result: Result{Allowed: true, Remaining: 9, Reset: 6 * time.Second}},
		{Zone: b, Limit: b.Default, Unknown: true},
	}
	pol, lim, tightest := Fields(ds)
	if pol != `"a";q=10;w=60, "b";q=5;w=1` || lim != `"a";r=9;t=6` || tightest != 0 {
		t.Fatalf("fields %q %q %d", pol, lim, tightest)
	}
	secs, err := Refusal("a", 1500*time.Millisecond)
	if secs != "2" || !errors.Is(err, failure.ErrRateLimited) || failure.Detail(err) != "rate limit of zone a exceeded; retry after 2 seconds" {
		t.Fatalf("refusal %q %v", secs, err)
	}
}
