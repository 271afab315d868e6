package edge

import (
	"net/http"
	"testing"
)

func BenchmarkCheckClean(b *testing.B) {
	h := http.Header{
		"Accept": {"application/json"}, "User-Agent": {"wrk/4.2"}, "X-Api-Key": {"demo-key-1"},
		"Accept-Encoding": {"gzip"}, "Content-Type": {"application/json"}, "X-Request-Id": {"abc"},
	}
	b.ReportAllocs()
	for b.Loop() {
		if CheckMethod("GET", Options{}) != nil || CheckTarget("GET", "/key/items/42?limit=20&page=1", Options{}) != nil {
			b.Fatal("refused")
		}
		Clean(h, Options{})
	}
}

func BenchmarkCheckTargetEncoded(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if CheckTarget("GET", "/users/caf%C3%A9/items%20x/42", Options{}) != nil {
			b.Fatal("refused")
		}
	}
}
