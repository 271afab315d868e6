package oidc

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// TestIntrospectorCalledHook: the hook hears every call to the issuer
// with its outcome, and no cache hit.
func TestIntrospectorCalledHook(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		switch r.PostForm.Get("token") {
		case "good":
			_, _ = w.Write([]byte(`{"active":true,"token_type":"Bearer","sub":"bob"}`))
		case "bad":
			_, _ = w.Write([]byte(`{"active":false}`))
		default:
			http.Error(w, "boom", http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	var mu sync.Mutex
	got := map[string]int{}
	in := &Introspector{
		Endpoint:     func(context.Context) (string, error) { return srv.URL, nil },
		ClientID:     "gw",
		ClientSecret: "secret-secret-secret-secret-secret-00",
		Client:       srv.Client(),
		TTL:          time.Minute,
		NegTTL:       time.Second,
		MaxEntries:   10,
		Called: func(result string) {
			mu.Lock()
			got[result]++
			mu.Unlock()
		},
	}
	ctx := context.Background()
	for i := 0; i < 3; i++ { // one call, then two cache hits
		if _, err := in.Introspect(ctx, "good"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := in.Introspect(ctx, "bad"); err != nil {
		t.Fatal(err)
	}
	if _, err := in.Introspect(ctx, "broken"); err == nil {
		t.Fatal("an issuer error gave no error")
	}
	want := map[string]int{"active": 1, "inactive": 1, "error": 1}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("Called outcomes %v, want %v", got, want)
		}
	}
}
