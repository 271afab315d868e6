package sessions

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/apigw/caddy-apigw/store"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time      { return c.t }
func (c *clock) add(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *clock               { return &clock{t: time.Unix(1_800_000_000, 0)} }
func testManager(t *testing.T, cfg Config) (*Manager, *clock, *store.Memory) {
	t.Helper()
	st := store.NewMemory(time.Hour)
	t.Cleanup(func() { st.Close() })
	c := newClock()
	cfg.now = c.now
	return NewManager(st, cfg), c, st
}

func TestCreateLookupEnd(t *testing.T) {
	ctx := context.Background()
	m, _, st := testManager(t, Config{})
	token, info, err := m.Create(ctx, "alice", map[string]string{"role": "admin"})
	if err != nil {
		t.Fatal(err)
	}
	if !WellFormed(token) || len(token) != TokenLen {
		t.Fatalf("token %q is not a 256-bit base64url token", token)
	}
	if info.ID != Handle(token) || len(info.ID) != 32 || !ValidHandle(info.ID) {
		t.Fatalf("info id %q is not the handle of the token", info.ID)
	}
	keys, _ := st.Keys(ctx, "")
	for _, k := range keys {
		v, _ := st.Get(ctx, k)
		if strings.Contains(k, token) || strings.Contains(string(v), token) {
			t.Fatalf("store holds the raw token under %q", k)
		}
	}
	s, err := m.Lookup(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	if s.User != "alice" || s.Meta["role"] != "admin" || s.ID != info.ID {
		t.Fatalf("lookup = %+v", s)
	}
	found, err := m.End(ctx, info.ID)
	if err != nil || !found {
		t.Fatalf("End = %v, %v", found, err)
	}
	if _, err := m.Lookup(ctx, token); !errors.Is(err, ErrInvalid) {
		t.Fatalf("lookup after end = %v, want ErrInvalid", err)
	}
	if found, _ := m.End(ctx, info.ID); found {
		t.Fatal("second End found the session")
	}
}

func TestLookupRejects(t *testing.T) {
	ctx := context.Background()
	m, _, _ := testManager(t, Config{})
	real, _, _ := m.Create(ctx, "bob", nil)
	for _, tc := range []struct{ name, token string }{
		{"empty", ""},
		{"short", "abc"},
		{"bad chars", strings.Repeat("!", TokenLen)},
		{"unknown", strings.Repeat("A", TokenLen)},
		{"handle instead of token", Handle(real) + "12345678901"},
		{"one char off", real[:TokenLen-1] + string(real[TokenLen-1]^1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := m.Lookup(ctx, tc.token); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Lookup = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestTimeouts(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		steps []time.Duration // waits between lookups
		valid bool
	}{
		{"active within idle", []time.Duration{20 * time.Minute, 20 * time.Minute, 20 * time.Minute}, true},
		{"idle too long", []time.Duration{31 * time.Minute}, false},
		{"idle exactly", []time.Duration{30 * time.Minute}, false},
		{"past lifetime though active", repeat(25*time.Minute, 29), false},
		{"just under lifetime", repeat(25*time.Minute, 28), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, c, _ := testManager(t, Config{})
			token, _, err := m.Create(ctx, "carol", nil)
			if err != nil {
				t.Fatal(err)
			}
			var lerr error
			for _, d := range tc.steps {
				c.add(d)
				_, lerr = m.Lookup(ctx, token)
				if lerr != nil {
					break
				}
			}
			if (lerr == nil) != tc.valid {
				t.Fatalf("valid = %v (err %v), want %v", lerr == nil, lerr, tc.valid)
			}
		})
	}
}

func repeat(d time.Duration, n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = d
	}
	return out
}

func TestTouchUpdatesLastSeen(t *testing.T) {
	ctx := context.Background()
	m, c, _ := testManager(t, Config{})
	token, info, _ := m.Create(ctx, "dave", nil)
	c.add(10 * time.Minute)
	if _, err := m.Lookup(ctx, token); err != nil {
		t.Fatal(err)
	}
	list, err := m.List(ctx, "dave")
	if err != nil || len(list) != 1 {
		t.Fatalf("List = %v, %v", list, err)
	}
	if !list[0].LastSeen.Equal(info.Created.Add(10*time.Minute)) || !list[0].Created.Equal(info.Created) {
		t.Fatalf("info = %+v", list[0])
	}
}

func TestEndRacingTouchStaysEnded(t *testing.T) {
	ctx := context.Background()
	m, c, _ := testManager(t, Config{})
	token, info, _ := m.Create(ctx, "erin", nil)
	c.add(5 * time.Minute)
	// Simulate a lookup that read the session before End and touches after.
	s, err := m.Lookup(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.End(ctx, info.ID); err != nil {
		t.Fatal(err)
	}
	if err := m.touch(ctx, &s, c.now()); !errors.Is(err, ErrInvalid) {
		t.Fatalf("touch after end = %v, want ErrInvalid", err)
	}
	if _, err := m.Lookup(ctx, token); !errors.Is(err, ErrInvalid) {
		t.Fatalf("late touch resurrected the session: %v", err)
	}
}

func TestCapEvictsOldest(t *testing.T) {
	ctx := context.Background()
	m, c, _ := testManager(t, Config{MaxPerUser: 3})
	var tokens []string
	for i := 0; i < 5; i++ {
		tok, _, err := m.Create(ctx, "frank", nil)
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, tok)
		c.add(time.Second)
	}
	for i, tok := range tokens {
		_, err := m.Lookup(ctx, tok)
		if want := i >= 2; (err == nil) != want {
			t.Errorf("session %d valid = %v, want %v", i, err == nil, want)
		}
	}
	other, _, _ := m.Create(ctx, "grace", nil)
	if _, err := m.Lookup(ctx, other); err != nil {
		t.Fatal("another user's session was evicted")
	}
	list, _ := m.List(ctx, "frank")
	if len(list) != 3 {
		t.Fatalf("frank has %d sessions, want 3", len(list))
	}
}

func TestListAndEndUser(t *testing.T) {
	ctx := context.Background()
	m, c, _ := testManager(t, Config{})
	a1, _, _ := m.Create(ctx, "ann", nil)
	c.add(time.Second)
	a2, _, _ := m.Create(ctx, "ann", nil)
	c.add(time.Second)
	b1, _, _ := m.Create(ctx, "ben", nil)
	all, err := m.List(ctx, "")
	if err != nil || len(all) != 3 {
		t.Fatalf("List all = %v, %v", all, err)
	}
	if all[0].ID != Handle(a1) || all[2].ID != Handle(b1) {
		t.Fatalf("List all not ordered by creation: %+v", all)
	}
	n, err := m.EndUser(ctx, "ann")
	if err != nil || n != 2 {
		t.Fatalf("EndUser = %d, %v", n, err)
	}
	for _, tok := range []string{a1, a2} {
		if _, err := m.Lookup(ctx, tok); !errors.Is(err, ErrInvalid) {
			t.Fatal("ann's session survived EndUser")
		}
	}
	if _, err := m.Lookup(ctx, b1); err != nil {
		t.Fatal("ben's session ended")
	}
	if list, _ := m.List(ctx, "ann"); len(list) != 0 {
		t.Fatalf("ann still lists %v", list)
	}
}

func TestSharedStoreAcrossManagers(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory(time.Hour)
	defer st.Close()
	a, b := NewManager(st, Config{}), NewManager(st, Config{})
	tok, _, _ := a.Create(ctx, "hank", nil)
	if _, err := b.Lookup(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if found, _ := b.EndToken(ctx, tok); !found {
		t.Fatal("EndToken did not find the session")
	}
	if _, err := a.Lookup(ctx, tok); !errors.Is(err, ErrInvalid) {
		t.Fatal("session ended on one manager still valid on another")
	}
}

func TestCookies(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cfg    Config
		secure bool
		want   string
	}{
		{"default http", Config{}, false, "apigw_session=tok; Path=/; HttpOnly; SameSite=Lax"},
		{"default https", Config{}, true, "apigw_session=tok; Path=/; HttpOnly; Secure; SameSite=Lax"},
		{"host prefix strict", Config{HostPrefix: true, SameSite: "Strict", CookieName: "sid"}, false, "__Host-sid=tok; Path=/; HttpOnly; Secure; SameSite=Strict"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := NewManager(nil, tc.cfg)
			if got := m.Cookie("tok", tc.secure).String(); got != tc.want {
				t.Fatalf("cookie = %q, want %q", got, tc.want)
			}
			clear := m.ClearCookie(tc.secure).String()
			if !strings.Contains(clear, "Max-Age=0") || !strings.HasPrefix(clear, m.CookieName()+"=;") {
				t.Fatalf("clear cookie = %q", clear)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		err  string
	}{
		{"zero", Config{}, ""},
		{"bad name", Config{CookieName: "a b"}, "not a valid cookie name"},
		{"prefixed name", Config{CookieName: "__Host-x"}, "host_prefix"},
		{"idle > lifetime", Config{IdleTimeout: time.Hour, Lifetime: time.Minute}, "longer than lifetime"},
		{"samesite none", Config{SameSite: "none"}, "lax or strict"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("Validate = %v, want %q", err, tc.err)
			}
		})
	}
}

func TestEncodeDecode(t *testing.T) {
	now := time.Unix(1_800_000_000, 123)
	in := Session{Info: Info{User: "u", Created: now, LastSeen: now.Add(time.Second)}, Meta: map[string]string{"a": "b", "": "x"}, Expires: now.Add(time.Hour)}
	var out Session
	if !decode(encode(&in), &out) {
		t.Fatal("decode failed")
	}
	if out.User != "u" || !out.Created.Equal(in.Created) || !out.LastSeen.Equal(in.LastSeen) || !out.Expires.Equal(in.Expires) || len(out.Meta) != 2 || out.Meta[""] != "x" {
		t.Fatalf("round trip = %+v", out)
	}
	b := encode(&in)
	for i := 0; i < len(b); i++ {
		decode(b[:i], &out) // must not panic
	}
	if decode(b[:len(b)-1], &out) {
		t.Fatal("truncated value decoded")
	}
}
