package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/apigw/caddy-apigw/failure"
	"github.com/apigw/caddy-apigw/internal/testutil"
)

// backend is one Store under test plus a way to read a key's remaining TTL
// (0 = none) and a way to make time pass for TTL checks.
type backend struct {
	name string
	s    Store
	ttl  func(t *testing.T, key string) time.Duration
}

func memoryBackend(t *testing.T) (backend, *fakeClock) {
	m := NewMemory(time.Hour)
	t.Cleanup(func() { _ = m.Close() })
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	m.now = clk.Now
	return backend{name: "memory", s: m, ttl: func(t *testing.T, key string) time.Duration {
		_, s := m.items.StringShard(key)
		_, xs := m.indexes.StringShard(key)
		s.Lock()
		it, ok := s.M[key]
		s.Unlock()
		xs.Lock()
		ix, xok := xs.M[key]
		xs.Unlock()
		exp := int64(0)
		if ok {
			exp = it.expires
		} else if xok {
			exp = ix.expires
		} else {
			t.Fatalf("key %q missing", key)
		}
		if exp == 0 {
			return 0
		}
		return time.Duration(exp - clk.Now().UnixNano())
	}}, clk
}

func redisBackend(t *testing.T, url string) backend {
	r, err := NewRedis(url, zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return backend{name: "redis", s: r, ttl: func(t *testing.T, key string) time.Duration {
		d, err := r.Client.PTTL(context.Background(), r.Prefix+key).Result()
		if err != nil {
			t.Fatal(err)
		}
		if d == -2 {
			t.Fatalf("key %q missing", key)
		}
		if d < 0 {
			return 0
		}
		return d
	}}
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func backends(t *testing.T) []backend {
	mem, _ := memoryBackend(t)
	out := []backend{mem}
	if testing.Short() {
		return out
	}
	rs := testutil.StartRedis(t)
	return append(out, redisBackend(t, rs.URL(0)+"?prefix=test:"))
}

func TestStoreContract(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			s := b.s
			t.Run("get missing", func(t *testing.T) {
				if _, err := s.Get(ctx, "nope"); !errors.Is(err, ErrNotFound) {
					t.Fatalf("err = %v, want ErrNotFound", err)
				}
			})
			t.Run("set get with ttl", func(t *testing.T) {
				if err := s.Set(ctx, "k1", []byte("v1"), time.Minute); err != nil {
					t.Fatal(err)
				}
				v, err := s.Get(ctx, "k1")
				if err != nil || string(v) != "v1" {
					t.Fatalf("Get = %q, %v", v, err)
				}
				if d := b.ttl(t, "k1"); d <= 0 || d > time.Minute {
					t.Fatalf("ttl = %v, want (0, 1m]", d)
				}
			})
			t.Run("set without ttl", func(t *testing.T) {
				if err := s.Set(ctx, "k0", []byte("v"), 0); err != nil {
					t.Fatal(err)
				}
				if d := b.ttl(t, "k0"); d != 0 {
					t.Fatalf("ttl = %v, want none", d)
				}
			})
			t.Run("setnx", func(t *testing.T) {
				for i, want := range []bool{true, false, false} {
					ok, err := s.SetNX(ctx, "once", []byte("x"), time.Minute)
					if err != nil || ok != want {
						t.Fatalf("SetNX #%d = %v, %v; want %v", i, ok, err, want)
					}
				}
				if d := b.ttl(t, "once"); d <= 0 || d > time.Minute {
					t.Fatalf("ttl = %v", d)
				}
				if err := s.Delete(ctx, "once"); err != nil {
					t.Fatal(err)
				}
				if ok, err := s.SetNX(ctx, "once", []byte("x"), time.Minute); !ok || err != nil {
					t.Fatalf("SetNX after delete = %v, %v", ok, err)
				}
			})
			t.Run("delete several", func(t *testing.T) {
				for _, k := range []string{"d1", "d2", "d3"} {
					if err := s.Set(ctx, k, []byte(k), time.Minute); err != nil {
						t.Fatal(err)
					}
				}
				if err := s.Delete(ctx, "d1", "d2", "missing"); err != nil {
					t.Fatal(err)
				}
				for k, want := range map[string]error{"d1": ErrNotFound, "d2": ErrNotFound, "d3": nil} {
					if _, err := s.Get(ctx, k); !errors.Is(err, want) && err != want {
						t.Fatalf("Get(%s) err = %v, want %v", k, err, want)
					}
				}
				if err := s.Delete(ctx); err != nil {
					t.Fatal(err)
				}
			})
			t.Run("index", func(t *testing.T) {
				for i, m := range []string{"c", "a", "b"} {
					if err := s.IndexAdd(ctx, "ix", m, int64(10-i), time.Hour); err != nil {
						t.Fatal(err)
					}
				}
				got, err := s.IndexMembers(ctx, "ix")
				if err != nil || strings.Join(got, ",") != "b,a,c" {
					t.Fatalf("members = %v, %v; want b,a,c (by score)", got, err)
				}
				if d := b.ttl(t, "ix"); d <= 0 || d > time.Hour {
					t.Fatalf("index ttl = %v", d)
				}
				if err := s.IndexRemove(ctx, "ix", "a", "zz"); err != nil {
					t.Fatal(err)
				}
				got, _ = s.IndexMembers(ctx, "ix")
				if strings.Join(got, ",") != "b,c" {
					t.Fatalf("after remove = %v", got)
				}
				if got, err := s.IndexMembers(ctx, "noindex"); err != nil || len(got) != 0 {
					t.Fatalf("missing index = %v, %v", got, err)
				}
				if err := s.IndexRemove(ctx, "ix"); err != nil {
					t.Fatal(err)
				}
			})
			t.Run("keys", func(t *testing.T) {
				for _, k := range []string{"kp:a", "kp:b", "kp*:c", "other"} {
					if err := s.Set(ctx, k, []byte("1"), time.Minute); err != nil {
						t.Fatal(err)
					}
				}
				got, err := s.Keys(ctx, "kp:")
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != 2 || !contains(got, "kp:a") || !contains(got, "kp:b") {
					t.Fatalf("Keys(kp:) = %v", got)
				}
				// glob characters in the prefix are literal
				got, _ = s.Keys(ctx, "kp*")
				if len(got) != 1 || got[0] != "kp*:c" {
					t.Fatalf("Keys(kp*) = %v", got)
				}
			})
			t.Run("pubsub", func(t *testing.T) {
				got := make(chan string, 4)
				unsub := s.Subscribe("chan1", func(m string) { got <- m })
				// Redis SUBSCRIBE is asynchronous: publish until the
				// first message arrives.
				waitMessage(t, s, "chan1", "hello", got)
				unsub()
				other := make(chan string, 4)
				unsub2 := s.Subscribe("chan1", func(m string) { other <- m })
				defer unsub2()
				waitMessage(t, s, "chan1", "again", other)
				select {
				case m := <-got:
					if m != "hello" {
						t.Fatalf("unsubscribed callback got %q", m)
					}
				default:
				}
			})
			if b.name == "memory" {
				return
			}
			t.Run("prefix", func(t *testing.T) {
				r := s.(*Redis)
				if err := s.Set(ctx, "pfx", []byte("1"), time.Minute); err != nil {
					t.Fatal(err)
				}
				if n, _ := r.Client.Exists(ctx, "test:pfx").Result(); n != 1 {
					t.Fatal("key not stored under the prefix test:")
				}
			})
		})
	}
}

func waitMessage(t *testing.T, s Store, channel, msg string, got chan string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if err := s.Publish(context.Background(), channel, msg); err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-got:
			if m != msg {
				t.Fatalf("got %q, want %q", m, msg)
			}
			// drain duplicates of the same message
			for {
				select {
				case m := <-got:
					if m != msg {
						t.Fatalf("got %q, want %q", m, msg)
					}
				case <-time.After(50 * time.Millisecond):
					return
				}
			}
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("no message on %s", channel)
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func TestMemoryExpiry(t *testing.T) {
	b, clk := memoryBackend(t)
	m := b.s.(*Memory)
	ctx := context.Background()
	_ = m.Set(ctx, "short", []byte("x"), time.Second)
	_ = m.IndexAdd(ctx, "ix", "a", 1, time.Second)
	_, _ = m.SetNX(ctx, "nx", []byte("x"), time.Second)
	clk.Add(2 * time.Second)
	if _, err := m.Get(ctx, "short"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("expired key readable: %v", err)
	}
	if got, _ := m.IndexMembers(ctx, "ix"); len(got) != 0 {
		t.Fatalf("expired index readable: %v", got)
	}
	if ok, _ := m.SetNX(ctx, "nx", []byte("y"), time.Second); !ok {
		t.Fatal("SetNX refused over an expired key")
	}
	m.Purge()
	if n := m.Len(); n != 1 {
		t.Fatalf("Len after purge = %d, want 1 (the new nx)", n)
	}
}

func TestParseRedisURL(t *testing.T) {
	for _, tc := range []struct {
		name, url string
		wantErr   string
		check     func(t *testing.T, s *redisSettings)
	}{
		{name: "single defaults", url: "redis://127.0.0.1:6379/2", check: func(t *testing.T, s *redisSettings) {
			if s.mode != modeSingle || s.single.DB != 2 || s.prefix != DefaultPrefix || s.single.ReadTimeout != DefaultTimeout ||
				s.single.DialTimeout != DefaultTimeout || s.single.PoolTimeout != DefaultTimeout || s.single.TLSConfig != nil {
				t.Fatalf("%+v", s.single)
			}
		}},
		{name: "acl and options", url: "redis://app:p%40ss@h:1/0?prefix=gw:&timeout=2s&read_timeout=3s&pool_size=7", check: func(t *testing.T, s *redisSettings) {
			o := s.single
			if o.Username != "app" || o.Password != "p@ss" || s.prefix != "gw:" || o.DialTimeout != 2*time.Second ||
				o.ReadTimeout != 3*time.Second || o.PoolSize != 7 {
				t.Fatalf("%+v", o)
			}
		}},
		{name: "tls", url: "rediss://h:6380", check: func(t *testing.T, s *redisSettings) {
			if s.single.TLSConfig == nil || s.single.TLSConfig.ServerName != "h" {
				t.Fatal("no TLS config")
			}
		}},
		{name: "sentinel", url: "redis-sentinel://u:pw@s1:26379,s2:26380/3?master=mymaster&sentinel_password=sp", check: func(t *testing.T, s *redisSettings) {
			o := s.failover
			if s.mode != modeSentinel || o.MasterName != "mymaster" || len(o.SentinelAddrs) != 2 || o.DB != 3 ||
				o.Username != "u" || o.Password != "pw" || o.SentinelPassword != "sp" || o.ReadTimeout != DefaultTimeout {
				t.Fatalf("%+v", o)
			}
		}},
		{name: "cluster tls", url: "rediss-cluster://c1:7000,c2:7001?timeout=1s", check: func(t *testing.T, s *redisSettings) {
			o := s.cluster
			if s.mode != modeCluster || len(o.Addrs) != 2 || o.TLSConfig == nil || o.ReadTimeout != time.Second {
				t.Fatalf("%+v", o)
			}
		}},
		{name: "startup require", url: "redis://h:1?startup=require", check: func(t *testing.T, s *redisSettings) {
			if s.startup != StartupRequire {
				t.Fatal(s.startup)
			}
		}},
		{name: "bad scheme", url: "http://h:1", wantErr: "unknown scheme"},
		{name: "no host", url: "redis:///0", wantErr: "has no host"},
		{name: "bad timeout", url: "redis://h:1?timeout=soon", wantErr: "timeout="},
		{name: "unknown option", url: "redis://h:1?bogus=1", wantErr: "bogus"},
		{name: "bad startup", url: "redis://h:1?startup=maybe", wantErr: "startup="},
		{name: "sentinel without master", url: "redis-sentinel://s1:1", wantErr: "master="},
		{name: "master on single", url: "redis://h:1?master=x", wantErr: "only for redis-sentinel"},
		{name: "several hosts single", url: "redis://h:1,h2:2", wantErr: "several hosts"},
		{name: "cluster db", url: "redis-cluster://h:1/2", wantErr: "only database 0"},
		{name: "bad db", url: "redis://h:1/x", wantErr: "database"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := parseRedisURL(tc.url)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, s)
		})
	}
}

func TestParseURLRedactsPassword(t *testing.T) {
	_, err := ParseURL("redis://u:topsecret@h:1?bogus=1")
	if err == nil || strings.Contains(err.Error(), "topsecret") {
		t.Fatalf("err = %v (must exist and hide the password)", err)
	}
	for _, s := range []string{"", "memory", "memory://"} {
		if c, err := ParseURL(s); err != nil || c.Kind != "memory" {
			t.Fatalf("ParseURL(%q) = %+v, %v", s, c, err)
		}
	}
}

func TestExpandURL(t *testing.T) {
	env := map[string]string{"{env.PW}": "p@ss/w:rd?&", "{env.HOST}": "db.example:6379", "{env.SP}": "s p&x"}
	expand := func(s string) string {
		for k, v := range env {
			s = strings.ReplaceAll(s, k, v)
		}
		return s
	}
	for _, tc := range []struct{ in, want string }{
		{"redis://:{env.PW}@{env.HOST}/0", "redis://:p%40ss%2Fw%3Ard%3F&@db.example:6379/0"},
		{"redis://app:{env.PW}@h:1/0?prefix=x:", "redis://app:p%40ss%2Fw%3Ard%3F&@h:1/0?prefix=x:"},
		{"redis-sentinel://s1:1,s2:2?master=m&sentinel_password={env.SP}", "redis-sentinel://s1:1,s2:2?master=m&sentinel_password=s+p%26x"},
		{"redis://u:already%40escaped@h:1", "redis://u:already%40escaped@h:1"},
		{"memory", "memory"},
	} {
		got := ExpandURL(tc.in, expand)
		if got != tc.want {
			t.Errorf("ExpandURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	// and the result parses to the original password
	s, err := parseRedisURL(ExpandURL("redis://app:{env.PW}@h:1/0", expand))
	if err != nil || s.single.Password != "p@ss/w:rd?&" {
		t.Fatalf("password = %q, %v", s.single.Password, err)
	}
}

// recordingObserver counts health changes and ops.
type recordingObserver struct {
	mu     sync.Mutex
	health []bool
	ops    map[string]int
	errs   int
}

func (o *recordingObserver) ObserveOp(_, op string, _ time.Duration, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.ops == nil {
		o.ops = map[string]int{}
	}
	o.ops[op]++
	if err != nil {
		o.errs++
	}
}

func (o *recordingObserver) ObserveHealth(_ string, up bool) {
	o.mu.Lock()
	o.health = append(o.health, up)
	o.mu.Unlock()
}

func TestRedisOutageAndRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server")
	}
	rs := testutil.StartRedis(t)
	core, logs := observer.New(zapcore.InfoLevel)
	obs := &recordingObserver{}
	r, err := NewRedis(rs.URL(0)+"?timeout=200ms", zap.New(core), obs)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	if err := r.Set(ctx, "ack", []byte("1"), time.Minute); err != nil {
		t.Fatal(err)
	}
	resync := make(chan string, 16)
	unsub := r.Subscribe("inval", func(m string) { resync <- m })
	defer unsub()
	waitMessage(t, r, "inval", "ping", resync)

	rs.Stop()
	for i := 0; i < 50; i++ {
		if _, err := r.Get(ctx, "ack"); !errors.Is(err, failure.ErrUnavailable) {
			t.Fatalf("Get during outage: err = %v, want ErrUnavailable", err)
		}
		if err := r.Set(ctx, "x", []byte("1"), time.Minute); !errors.Is(err, failure.ErrUnavailable) {
			t.Fatalf("Set during outage: err = %v", err)
		}
	}
	if r.Healthy() {
		t.Fatal("store still healthy during the outage")
	}
	if n := logs.FilterLevelExact(zapcore.WarnLevel).Len(); n != 1 {
		t.Fatalf("%d warnings during one outage, want exactly 1: %v", n, logs.All())
	}

	rs.Restart(t)
	deadline := time.Now().Add(15 * time.Second)
	for !r.Healthy() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !r.Healthy() {
		t.Fatal("store did not recover")
	}
	if err := r.Set(ctx, "after", []byte("1"), time.Minute); err != nil {
		t.Fatalf("Set after recovery: %v", err)
	}
	if n := logs.FilterMessage("redis store recovered").Len(); n != 1 {
		t.Fatalf("%d recovery lines, want 1", n)
	}
	if n := logs.FilterLevelExact(zapcore.WarnLevel).Len(); n != 1 {
		t.Fatalf("%d warnings in total, want 1", n)
	}
	select {
	case m := <-resync:
		if m != ResyncMessage {
			t.Fatalf("subscriber got %q after recovery, want ResyncMessage", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("subscriber got no ResyncMessage after recovery")
	}
	// the subscription itself works again
	waitMessage(t, r, "inval", "pong", drainResync(resync))
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if fmt.Sprint(obs.health) != "[true false true]" || obs.errs == 0 || obs.ops["set"] == 0 {
		t.Fatalf("observer: health %v errs %d ops %v", obs.health, obs.errs, obs.ops)
	}
}

// drainResync returns ch without leftover ResyncMessages.
func drainResync(ch chan string) chan string {
	out := make(chan string, 16)
	go func() {
		for m := range ch {
			if m != ResyncMessage {
				out <- m
			}
		}
	}()
	return out
}

func TestRedisStartup(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server")
	}
	dead := fmt.Sprintf("redis://127.0.0.1:%d/0?timeout=200ms", testutil.FreePort(t))
	t.Run("require fails fast", func(t *testing.T) {
		_, err := NewRedis(dead+"&startup=require", nil, nil)
		if err == nil || !strings.Contains(err.Error(), "startup=require") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("degraded starts and warns once", func(t *testing.T) {
		core, logs := observer.New(zapcore.InfoLevel)
		r, err := NewRedis(dead, zap.New(core), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if r.Healthy() {
			t.Fatal("healthy without a server")
		}
		if _, err := r.Get(context.Background(), "x"); !errors.Is(err, failure.ErrUnavailable) {
			t.Fatalf("err = %v", err)
		}
		if n := logs.FilterLevelExact(zapcore.WarnLevel).Len(); n != 1 {
			t.Fatalf("%d warnings", n)
		}
	})
}

func TestRedisACLPassword(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server")
	}
	rs := testutil.StartRedisArgs(t, "--requirepass", "s3cr3t/@:x")
	ctx := context.Background()
	good := ExpandURL(fmt.Sprintf("redis://:{env.PW}@127.0.0.1:%d/0?startup=require", rs.Port), func(s string) string {
		return strings.ReplaceAll(s, "{env.PW}", "s3cr3t/@:x")
	})
	r, err := NewRedis(good, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Set(ctx, "a", []byte("1"), time.Minute); err != nil {
		t.Fatal(err)
	}
	_, err = NewRedis(fmt.Sprintf("redis://:wrong@127.0.0.1:%d/0?startup=require", rs.Port), nil, nil)
	if err == nil || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("wrong password: err = %v (must fail without echoing it)", err)
	}
}

func TestRedisClusterAndSentinel(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server")
	}
	ctx := context.Background()
	t.Run("cluster", func(t *testing.T) {
		rs := testutil.StartRedisCluster(t)
		r, err := NewRedis(fmt.Sprintf("redis-cluster://127.0.0.1:%d?startup=require", rs.Port), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		exerciseStore(t, ctx, r)
	})
	t.Run("sentinel", func(t *testing.T) {
		master := testutil.StartRedis(t)
		sp := testutil.StartRedisSentinel(t, master)
		r, err := NewRedis(fmt.Sprintf("redis-sentinel://127.0.0.1:%d/1?master=mymaster&startup=require", sp), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		exerciseStore(t, ctx, r)
	})
}

// exerciseStore runs every operation once against s, including a
// multi-key delete across cluster slots.
func exerciseStore(t *testing.T, ctx context.Context, s Store) {
	t.Helper()
	for i := 0; i < 10; i++ {
		if err := s.Set(ctx, fmt.Sprintf("ex:%d", i), []byte("v"), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if v, err := s.Get(ctx, "ex:3"); err != nil || string(v) != "v" {
		t.Fatalf("Get = %q, %v", v, err)
	}
	if ok, err := s.SetNX(ctx, "ex:nx", nil, time.Minute); !ok || err != nil {
		t.Fatalf("SetNX = %v, %v", ok, err)
	}
	if err := s.IndexAdd(ctx, "ex:ix", "m", 1, time.Minute); err != nil {
		t.Fatal(err)
	}
	if m, err := s.IndexMembers(ctx, "ex:ix"); err != nil || len(m) != 1 {
		t.Fatalf("IndexMembers = %v, %v", m, err)
	}
	keys, err := s.Keys(ctx, "ex:")
	if err != nil || len(keys) != 12 {
		t.Fatalf("Keys = %v, %v", keys, err)
	}
	if err := s.Delete(ctx, keys...); err != nil {
		t.Fatalf("Delete across slots: %v", err)
	}
	if keys, _ := s.Keys(ctx, "ex:"); len(keys) != 0 {
		t.Fatalf("left after delete: %v", keys)
	}
}

// Every Redis client the store builds honours context deadlines on its
// sockets: the limiter's per-decision timeout relies on it.
func TestRedisClientsHonourContextDeadlines(t *testing.T) {
	for _, u := range []string{"redis://h:1", "redis-sentinel://h:1,h2:2?master=m", "redis-cluster://h:1,h2:2"} {
		t.Run(u, func(t *testing.T) {
			s, err := parseRedisURL(u)
			if err != nil {
				t.Fatal(err)
			}
			var enabled bool
			switch {
			case s.single != nil:
				enabled = s.single.ContextTimeoutEnabled
			case s.failover != nil:
				enabled = s.failover.ContextTimeoutEnabled
			case s.cluster != nil:
				enabled = s.cluster.ContextTimeoutEnabled
			}
			if !enabled {
				t.Fatal("ContextTimeoutEnabled is off")
			}
		})
	}
}
