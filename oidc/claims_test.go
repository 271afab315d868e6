package oidc

import (
	"reflect"
	"testing"
)

func TestClaimMapping(t *testing.T) {
	m := ClaimMapping{Metadata: map[string]string{"email": "email", "name": "name", "n": "n"}, ScopeClaim: "scp", RolesClaim: "groups"}
	for _, tc := range []struct {
		name     string
		claims   map[string]any
		user     string
		meta     map[string]string
		wantsErr bool
	}{
		{"sub and metadata", map[string]any{"sub": "alice", "email": "a@x", "name": "Alice", "n": 3.0, "scp": "read write", "groups": []any{"admin", "dev"}},
			"alice", map[string]string{"email": "a@x", "name": "Alice", "n": "3", "scope": "read write", "roles": "admin dev"}, false},
		{"no sub", map[string]any{"email": "a@x"}, "", nil, true},
		{"empty sub", map[string]any{"sub": ""}, "", nil, true},
		{"object claim left out", map[string]any{"sub": "a", "email": map[string]any{"x": 1}}, "a", nil, false},
		{"array with a space left out", map[string]any{"sub": "a", "groups": []any{"a b"}}, "a", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			user, meta, err := m.Identity(tc.claims)
			if (err != nil) != tc.wantsErr {
				t.Fatalf("err = %v", err)
			}
			if user != tc.user || !reflect.DeepEqual(meta, tc.meta) {
				t.Fatalf("got %q %v, want %q %v", user, meta, tc.user, tc.meta)
			}
		})
	}
	if err := (ClaimMapping{Metadata: map[string]string{"groups": "roles"}}).Validate(); err == nil {
		t.Fatal("mapping a claim onto the reserved roles key was accepted")
	}
}

func TestCheckIssuerURL(t *testing.T) {
	for _, tc := range []struct {
		issuer string
		allow  bool
		ok     bool
	}{
		{"https://id.example.com", false, true},
		{"http://127.0.0.1:9100", true, true},
		{"http://localhost:9100", true, true},
		{"http://[::1]:9100", true, true},
		{"http://127.0.0.1:9100", false, false},
		{"http://id.example.com", true, false},
		{"ftp://id.example.com", true, false},
		{"https://id.example.com?x=1", false, false},
		{"id.example.com", false, false},
	} {
		if err := CheckIssuerURL(tc.issuer, tc.allow); (err == nil) != tc.ok {
			t.Errorf("CheckIssuerURL(%q, %v) = %v", tc.issuer, tc.allow, err)
		}
	}
}
