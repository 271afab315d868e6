package limiter

import (
	"testing"
	"time"
)

func TestHeaderItems(t *testing.T) {
	gcra := Policy{Rate: Rate{Events: 3, Window: time.Minute}, Burst: 3}
	burst := Policy{Rate: Rate{Events: 100, Window: time.Hour}, Burst: 10}
	sliding := Policy{Rate: Rate{Events: 3, Window: time.Minute}, Burst: 3, Algorithm: SlidingWindow}
	for _, tc := range []struct {
		name   string
		p      Policy
		res    Result
		policy string
		limit  string
	}{
		{"gcra after the first of three", gcra, Result{Allowed: true, Remaining: 2, Reset: 20 * time.Second},
			`"z";q=3;w=60`, `"z";r=2;t=20`},
		{"gcra next unit, not full refill", gcra, Result{Allowed: true, Remaining: 0, Reset: 60 * time.Second},
			`"z";q=3;w=60`, `"z";r=0;t=20`},
		{"gcra partly refilled", gcra, Result{Allowed: true, Remaining: 1, Reset: 35 * time.Second},
			`"z";q=3;w=60`, `"z";r=1;t=15`},
		{"gcra full after a refund", gcra, Result{Allowed: true, Remaining: 3, Reset: 0},
			`"z";q=3;w=60`, `"z";r=3;t=20`},
		{"gcra denied", gcra, Result{Allowed: false, RetryAfter: 1500 * time.Millisecond, Reset: 61 * time.Second},
			`"z";q=3;w=60`, `"z";r=0;t=2`},
		{"burst as a vendor parameter", burst, Result{Allowed: true, Remaining: 9, Reset: 36 * time.Second},
			`"z";q=100;w=3600;apigw-burst=10`, `"z";r=9;t=36`},
		{"sliding next unit", sliding, Result{Allowed: true, Remaining: 1, Reset: 71 * time.Second},
			`"z";q=3;w=60`, `"z";r=1;t=71`},
		{"sliding whole quota", sliding, Result{Allowed: true, Remaining: 3, Reset: 120 * time.Second},
			`"z";q=3;w=60`, `"z";r=3;t=60`},
		{"sliding never 0", sliding, Result{Allowed: true, Remaining: 2},
			`"z";q=3;w=60`, `"z";r=2;t=60`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(tc.p.AppendPolicyItem(nil, "z")); got != tc.policy {
				t.Errorf("policy item %s, want %s", got, tc.policy)
			}
			if got := string(tc.p.AppendServiceLimit(nil, "z", tc.res)); got != tc.limit {
				t.Errorf("service limit %s, want %s", got, tc.limit)
			}
		})
	}
	if got := string(appendSFString(nil, `a"b\c`)); got != `"a\"b\\c"` {
		t.Errorf("sf-string %s", got)
	}
}

// BenchmarkHeaderItems formats both fields of one zone into a reused
// buffer: no allocation.
func BenchmarkHeaderItems(b *testing.B) {
	p := Policy{Rate: Rate{Events: 100, Window: time.Minute}, Burst: 100}
	res := Result{Allowed: true, Remaining: 42, Reset: 35 * time.Second}
	buf := make([]byte, 0, 128)
	b.ReportAllocs()
	for b.Loop() {
		buf = p.AppendPolicyItem(buf[:0], "per_key")
		buf = p.AppendServiceLimit(buf[:0], "per_key", res)
	}
}
