package limiter

import "testing"

func TestIPBucket(t *testing.T) {
	for _, tc := range []struct {
		ip   string
		bits int
		want string
	}{
		{"203.0.113.7", 64, "203.0.113.7"},
		{"2001:db8:1:2:a:b:c:d", 64, "2001:db8:1:2::/64"},
		{"2001:db8:1:2::1", 64, "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff:ffff:ffff:ffff", 64, "2001:db8:1:2::/64"},
		{"2001:db8:1:3::1", 64, "2001:db8:1:3::/64"},
		{"2001:db8:1:2ff::1", 56, "2001:db8:1:200::/56"},
		{"2001:db8:1:2::1", 128, "2001:db8:1:2::1"},
		{"2001:db8:1:2::1", 0, "2001:db8:1:2::1"},
		{"::ffff:203.0.113.7", 64, "203.0.113.7/32"},
		{"fe80::1%eth0", 64, "fe80::/64"},
		{"::1", 64, "::/64"},
		{"not-an-ip", 64, "not-an-ip"},
		{"[::1]:443", 64, "[::1]:443"},
	} {
		if got := IPBucket(tc.ip, tc.bits); got != tc.want {
			t.Errorf("IPBucket(%q, %d) = %q, want %q", tc.ip, tc.bits, got, tc.want)
		}
	}
}

// BenchmarkIPBucket: the key path of a {client_ip} zone for an IPv6
// client (warm cache) and an IPv4 client.
func BenchmarkIPBucket(b *testing.B) {
	for _, ip := range []string{"2001:db8:85a3:8d3:1319:8a2e:370:7348", "203.0.113.7"} {
		b.Run(ip, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = IPBucket(ip, DefaultIPv6Prefix)
			}
		})
	}
}
