package caddymodule

import (
	"testing"

	"github.com/apigw/caddy-apigw/internal/testutil"
)

// TestIPv6BucketsThroughBinary: the running gateway groups IPv6 clients
// by /64 by default and by the configured prefix, IPv4 per address.
func TestIPv6BucketsThroughBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts the gateway")
	}
	c := testutil.StartCaddy(t, testutil.Options{Config: "testdata/ipv6_buckets.caddyfile"})
	from := func(path, ip string) int {
		st, _, _ := ecDo(t, "GET", c.URL(path), "", "X-Forwarded-For", ip)
		return st
	}
	for _, tc := range []struct {
		path          string
		first, second string // the same bucket
		other         string // another bucket
	}{
		{"/default/x", "2001:db8:0:1::1", "2001:db8:0:1:ffff:ffff:ffff:fffe", "2001:db8:0:2::1"},
		{"/wide/x", "2001:db8:0:100::1", "2001:db8:0:1ff::1", "2001:db8:0:200::1"},
		{"/default/y", "203.0.113.7", "203.0.113.7", "203.0.113.8"},
	} {
		if st := from(tc.path, tc.first); st != 200 {
			t.Fatalf("%s from %s: %d", tc.path, tc.first, st)
		}
		if st := from(tc.path, tc.first); st != 200 {
			t.Fatalf("%s from %s again: %d", tc.path, tc.first, st)
		}
		if st := from(tc.path, tc.second); st != 429 {
			t.Fatalf("%s from %s (same bucket as %s): %d, want 429", tc.path, tc.second, tc.first, st)
		}
		if st := from(tc.path, tc.other); st != 200 {
			t.Fatalf("%s from %s (another bucket): %d, want 200", tc.path, tc.other, st)
		}
	}
}
