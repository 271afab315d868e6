package redact

import (
	"strings"
	"testing"
)

func TestSecrets(t *testing.T) {
	for _, tc := range []struct {
		in       string
		secret   string
		keepText string
	}{
		{"SELECT * FROM users WHERE api_key = 'sk_live_51H8xYz' -- password=hunter2", "hunter2", "SELECT * FROM users"},
		{"SELECT * FROM users WHERE api_key = 'sk_live_51H8xYz'", "sk_live_51H8xYz", "WHERE api_key"},
		{`{"user":"bob","password":"p@ss w0rd"}`, "p@ss w0rd", `"user":"bob"`},
		{"Authorization: Bearer abcdefghijklmnop.qrs", "abcdefghijklmnop", "Authorization"},
		{"token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig_nature-x here", "eyJzdWIiOiIxIn0", "here"},
		{"dial postgres://app:s3cr3t@db.internal:5432/app failed", "s3cr3t", "db.internal:5432"},
		{"Cookie: session=abc123def; theme=dark", "abc123def", "Cookie"},
		{"AWS key AKIAABCDEFGHIJKLMNOP leaked", "AKIAABCDEFGHIJKLMNOP", "leaked"},
		{"client_secret: xyz987", "xyz987", "client_secret"},
	} {
		t.Run(tc.secret, func(t *testing.T) {
			got := string(Secrets([]byte(tc.in)))
			if strings.Contains(got, tc.secret) || !strings.Contains(got, tc.keepText) || !strings.Contains(got, "[REDACTED]") {
				t.Fatalf("Secrets(%q) = %q", tc.in, got)
			}
		})
	}
}
