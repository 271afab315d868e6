package sessions

import (
	"context"
	"testing"
	"time"

	"github.com/apigw/caddy-apigw/internal/testutil"
	"github.com/apigw/caddy-apigw/store"
)

func BenchmarkLookupMemory(b *testing.B) {
	st := store.NewMemory(time.Hour)
	defer st.Close()
	m := NewManager(st, Config{})
	ctx := context.Background()
	token, _, err := m.Create(ctx, "bench", nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := m.Lookup(ctx, token); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLookupGarbage(b *testing.B) {
	m := NewManager(store.NewMemory(time.Hour), Config{})
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := m.Lookup(ctx, "garbage-cookie"); err == nil {
			b.Fatal("accepted")
		}
	}
}

func BenchmarkCookieValue(b *testing.B) {
	h := "_ga=GA1.2.3; theme=dark; apigw_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA; x=y"
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, ok := CookieValue(h, "apigw_session"); !ok {
			b.Fatal("not found")
		}
	}
}

// BenchmarkLookupRedis measures a lookup against a real redis-server on
// loopback (one GET per lookup; a SET and a GET when last-seen is due).
func BenchmarkLookupRedis(b *testing.B) {
	rd := testutil.StartRedis(b)
	st, err := store.NewRedis(rd.URL(0), nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	m := NewManager(st, Config{})
	ctx := context.Background()
	token, _, err := m.Create(ctx, "bench", nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := m.Lookup(ctx, token); err != nil {
			b.Fatal(err)
		}
	}
}
