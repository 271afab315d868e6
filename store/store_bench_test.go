package store

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/apigw/caddy-apigw/internal/testutil"
)

// BenchmarkStore measures every Store operation on memory and on a real
// redis-server (loopback; one round trip per op, so Redis numbers are
// network-bound).
func BenchmarkStore(b *testing.B) {
	ctx := context.Background()
	mem := NewMemory(time.Minute)
	defer mem.Close()
	stores := []struct {
		name string
		s    Store
	}{{"memory", mem}}
	rs := testutil.StartRedis(b)
	r, err := NewRedis(rs.URL(0), nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	stores = append(stores, struct {
		name string
		s    Store
	}{"redis", r})

	val := []byte("0123456789abcdef0123456789abcdef")
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "bench:" + strconv.Itoa(i)
	}
	for _, st := range stores {
		s := st.s
		for _, k := range keys {
			if err := s.Set(ctx, k, val, time.Minute); err != nil {
				b.Fatal(err)
			}
		}
		for i := 0; i < 16; i++ {
			_ = s.IndexAdd(ctx, "bench:ix", "m"+strconv.Itoa(i), int64(i), time.Minute)
		}
		b.Run(st.name+"/Get", func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := s.Get(ctx, keys[i&1023]); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(st.name+"/GetMissing", func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := s.Get(ctx, "bench:none"); err != ErrNotFound {
					b.Fatal(err)
				}
			}
		})
		b.Run(st.name+"/Set", func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if err := s.Set(ctx, keys[i&1023], val, time.Minute); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(st.name+"/SetNX", func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := s.SetNX(ctx, keys[i&1023], val, time.Minute); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(st.name+"/Delete", func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if err := s.Delete(ctx, "bench:del"); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(st.name+"/IndexAdd", func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if err := s.IndexAdd(ctx, "bench:ix2", "member", int64(i), time.Minute); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(st.name+"/IndexMembers16", func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := s.IndexMembers(ctx, "bench:ix"); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(st.name+"/IndexRemove", func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if err := s.IndexRemove(ctx, "bench:ix2", "absent"); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(st.name+"/Keys1024", func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := s.Keys(ctx, "bench:"); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(st.name+"/Publish", func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if err := s.Publish(ctx, "bench:chan", "msg"); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(st.name+"/GetParallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					if _, err := s.Get(ctx, keys[i&1023]); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
		})
	}
}
