package authn

import (
	"strings"
	"sync"
	"testing"
	"time"
)

// TestJWKSEventsOncePerEpisode: many failed fetches (kid-triggered ones,
// from many requests) make one Failing call; the next success one
// Recovered call; a second outage is a new episode.
func TestJWKSEventsOncePerEpisode(t *testing.T) {
	k := keys(t)
	srv := newJWKSServer(t, jwkOf(t, "a", "RS256", &k.rsa.PublicKey))
	var mu sync.Mutex
	var fetched, failing, recovered int
	var lastErr, lastHost string
	var lastFailures int
	j, err := NewJWKS(srv.URL, JWKSOptions{AllowInsecureLoopback: true, RefreshInterval: -1, Cooldown: time.Second,
		Events: JWKSEvents{
			Fetched: func(error) { mu.Lock(); fetched++; mu.Unlock() },
			Failing: func(host string, err error) {
				mu.Lock()
				failing++
				lastHost, lastErr = host, err.Error()
				mu.Unlock()
			},
			Recovered: func(host string, n int, _ time.Time) { mu.Lock(); recovered++; lastFailures = n; mu.Unlock() },
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(j.Stop)
	clk := &fakeClock{t: time.Now()}
	j.now = clk.now
	counts := func() (int, int, int) { mu.Lock(); defer mu.Unlock(); return fetched, failing, recovered }

	if len(j.Keys("a")) != 1 {
		t.Fatal("no key")
	}
	srv.down.Store(true)
	for i := range 5 {
		clk.add(2 * time.Second) // past the cooldown: every unknown kid refetches
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() { defer wg.Done(); _ = j.Keys("unknown-" + string(rune('a'+i))) }()
		}
		wg.Wait()
	}
	f, fl, rc := counts()
	if f < 6 || fl != 1 || rc != 0 {
		t.Fatalf("after an outage: fetched %d, failing %d, recovered %d; want >= 6, 1, 0", f, fl, rc)
	}
	if u := strings.TrimPrefix(srv.URL, "http://"); lastHost != u || !strings.Contains(lastErr, "503") {
		t.Fatalf("Failing(%q, %q): want host %q and the status", lastHost, lastErr, u)
	}
	if len(j.Keys("a")) != 1 {
		t.Fatal("cached key lost during the outage")
	}
	srv.down.Store(false)
	clk.add(2 * time.Second)
	_ = j.Keys("b")
	clk.add(2 * time.Second)
	_ = j.Keys("c")
	if _, fl, rc := counts(); fl != 1 || rc != 1 || lastFailures < 5 {
		t.Fatalf("after recovery: failing %d, recovered %d (failures %d)", fl, rc, lastFailures)
	}
	srv.down.Store(true)
	clk.add(2 * time.Second)
	_ = j.Keys("d")
	if _, fl, _ := counts(); fl != 2 {
		t.Fatalf("second outage: failing %d, want 2", fl)
	}
}
