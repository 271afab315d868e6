package oidc

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/apigw/caddy-apigw/store"
)

func TestStatesSingleUseAndBound(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory(time.Minute)
	defer st.Close()
	s := NewStates(st, time.Minute)
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
