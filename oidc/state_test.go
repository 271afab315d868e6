package oidc

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/apigw/caddy-apigw/failure"
	"github.com/apigw/caddy-apigw/store"
)

func TestStatesSingleUseAndBound(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory(time.Minute)
	defer st.Close()
	s := NewStates(st, time.Minute, 0)
	state, cookie, ls, err := s.Begin(ctx, "/app/x")
	if err != nil {
		t.Fatal(err)
	}
	if !WellFormedToken(cookie) || !WellFormedToken(state) || len(ls.Verifier) < 43 {
		t.Fatalf("weak values: state %q cookie %q verifier %q", state, cookie, ls.Verifier)
	}
	t.Run("every login gets a new cookie (a planted one is never reused)", func(t *testing.T) {
		_, c2, _, err := s.Begin(ctx, "/")
		if err != nil || c2 == cookie || !WellFormedToken(c2) {
			t.Fatalf("second login's cookie %q, first %q (%v)", c2, cookie, err)
		}
		if _, err := s.Consume(ctx, state, c2); !errors.Is(err, ErrStateInvalid) {
			t.Fatalf("the first login's state with the second login's cookie: %v, want ErrStateInvalid", err)
		}
	})
	other, _ := RandomToken()
	for _, tc := range []struct {
		name, state, browser string
	}{
		{"no cookie", state, ""},
		{"other browser", state, other},
		{"unknown state", other, cookie},
		{"malformed state", "x", cookie},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.Consume(ctx, tc.state, tc.browser); !errors.Is(err, ErrStateInvalid) {
				t.Fatalf("Consume = %v, want ErrStateInvalid", err)
			}
		})
	}
	t.Run("single use under concurrency", func(t *testing.T) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok := 0
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got, err := s.Consume(ctx, state, cookie)
				if err == nil {
					mu.Lock()
					ok++
					mu.Unlock()
					if got.ReturnTo != "/app/x" || got.Nonce != ls.Nonce || got.Verifier != ls.Verifier {
						t.Errorf("state = %+v, want %+v", got, ls)
					}
				}
			}()
		}
		wg.Wait()
		if ok != 1 {
			t.Fatalf("%d consumers succeeded, want 1", ok)
		}
	})
}

func TestIDTokenKeptServerSide(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory(time.Minute)
	defer st.Close()
	if err := SaveIDToken(ctx, st, "h1", "a.b.c", time.Minute); err != nil {
		t.Fatal(err)
	}
	if got, err := TakeIDToken(ctx, st, "h1"); err != nil || got != "a.b.c" {
		t.Fatalf("TakeIDToken = %q, %v", got, err)
	}
	if got, err := TakeIDToken(ctx, st, "h1"); err != nil || got != "" {
		t.Fatalf("second TakeIDToken = %q, %v; want it gone", got, err)
	}
}

// A gateway keeps at most maxPending logins outstanding: past it a new
// login is refused (failure.ErrUnavailable with a PendingFullError naming
// when the oldest expires) and nothing is stored; a finished or expired
// login frees its slot.
func TestStatesMaxPending(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory(time.Minute)
	defer st.Close()
	s := NewStates(st, time.Minute, 2)
	now := time.Unix(1_000_000, 0)
	s.now = func() time.Time { return now }
	state1, cookie1, _, err := s.Begin(ctx, "/")
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(10 * time.Second)
	if _, _, _, err := s.Begin(ctx, "/"); err != nil {
		t.Fatal(err)
	}
	_, _, _, err = s.Begin(ctx, "/")
	var full *PendingFullError
	if !errors.Is(err, failure.ErrUnavailable) || !errors.As(err, &full) || full.RetryAfter != 50*time.Second {
		t.Fatalf("third login: %v, want ErrUnavailable with RetryAfter 50s", err)
	}
	if n := s.Pending(); n != 2 {
		t.Fatalf("pending = %d, want 2 (the refused login took no slot)", n)
	}
	// a foreign browser does not free the slot; the real one does
	foreign := "x" + cookie1[1:]
	if cookie1[0] == 'x' {
		foreign = "y" + cookie1[1:]
	}
	if _, err := s.Consume(ctx, state1, foreign); !errors.Is(err, ErrStateInvalid) || s.Pending() != 2 {
		t.Fatalf("foreign consume: %v, pending %d", err, s.Pending())
	}
	if _, err := s.Consume(ctx, state1, cookie1); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := s.Begin(ctx, "/"); err != nil {
		t.Fatalf("after a finished login: %v", err)
	}
	if _, _, _, err := s.Begin(ctx, "/"); !errors.As(err, &full) {
		t.Fatalf("full again: %v", err)
	}
	// expiry frees slots without any callback
	now = now.Add(time.Minute)
	if s.Pending() != 0 {
		t.Fatalf("pending after the TTL = %d", s.Pending())
	}
	for i := 0; i < 2; i++ {
		if _, _, _, err := s.Begin(ctx, "/"); err != nil {
			t.Fatalf("after expiry: %v", err)
		}
	}
}

// Many begin/consume cycles below the cap keep the bookkeeping bounded.
func TestStatesPendingQueueCompacts(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory(time.Minute)
	defer st.Close()
	s := NewStates(st, time.Minute, 4)
	// one login stays open, so the queue's front never expires
	if _, _, _, err := s.Begin(ctx, "/"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 200; i++ {
		state, cookie, _, err := s.Begin(ctx, "/")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Consume(ctx, state, cookie); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(s.pending.order); n > 2*4+16+1 || s.Pending() != 1 {
		t.Fatalf("queue %d entries, pending %d", n, s.Pending())
	}
}
