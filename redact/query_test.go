package redact

import "testing"

func TestRedactQuery(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/auth/callback?code=abc&state=xyz", "/auth/callback?code=REDACTED&state=REDACTED"},
		{"/auth/callback?iss=https%3A%2F%2Fid&code=abc", "/auth/callback?iss=https%3A%2F%2Fid&code=REDACTED"},
		{"/x?Access_Token=t&page=2", "/x?Access_Token=REDACTED&page=2"},
		{"/x?%63ode=abc", "/x?code=REDACTED"},
		{"/x?page=2&sort=asc", "/x?page=2&sort=asc"},
		{"/x", "/x"},
		{"/x?", "/x?"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if got := Query(tc.in); got != tc.want {
				t.Fatalf("Query(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
