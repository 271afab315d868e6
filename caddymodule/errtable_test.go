package caddymodule

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/apigw/caddy-apigw/failure"
	"github.com/apigw/caddy-apigw/problem"
)

// problemFromError never answers a refusal or an outage as a success or
// as another kind, on its fast path (a bare *failure.Error) and on the
// errors.Is walk (wrapped errors, the store's fmt-wrapped sentinel).
func TestProblemFromError(t *testing.T) {
	generic503 := problem.ForStatus(http.StatusServiceUnavailable).Detail
	for _, tc := range []struct {
		name   string
		err    error
		status int
		code   string
		detail string
	}{
		{"nil", nil, 500, problem.CodeInternalError, ""},
		{"unknown", errors.New("boom"), 500, problem.CodeInternalError, ""},
		{"bare kind", failure.New(failure.ErrRateLimited, "slow down"), 429, problem.CodeRateLimited, "slow down"},
		{"bare kind, no detail", failure.New(failure.ErrInvalidToken, ""), 401, problem.CodeInvalidToken, problem.ForStatus(401).Detail},
		{"wrapped failure", fmt.Errorf("ctx: %w", failure.New(failure.ErrTokenRevoked, "revoked")), 401, problem.CodeTokenRevoked, "revoked"},
		{"store outage", fmt.Errorf("store: %w: %w", failure.ErrUnavailable, io.ErrUnexpectedEOF), 503, problem.CodeServiceUnavailable, generic503},
		{"outage wrapped as outage", failure.Wrap(failure.ErrUnavailable, "store down", fmt.Errorf("store: %w: %w", failure.ErrUnavailable, io.EOF)), 503, problem.CodeServiceUnavailable, "store down"},
		{"kind wins over its cause", failure.Wrap(failure.ErrInvalidSession, "bad", failure.New(failure.ErrUnavailable, "x")), 401, problem.CodeInvalidSession, "bad"},
		{"validation", fmt.Errorf("v: %w", failure.New(failure.ErrValidationFailed, "invalid")), 400, problem.CodeValidationFailed, "invalid"},
		{"bare sentinel", failure.ErrCSRFRejected, 403, problem.CodeCSRFRejected, problem.ForStatus(403).Detail},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := problemFromError(tc.err)
			if p.Status != tc.status || p.Code != tc.code || (tc.detail != "" && p.Detail != tc.detail) {
				t.Fatalf("got %d %s %q, want %d %s %q", p.Status, p.Code, p.Detail, tc.status, tc.code, tc.detail)
			}
		})
	}
}

// TestJWTInvalidUnclassified: a token refusal without a failure kind is a
// 401 invalid_token with the Bearer challenge, never a 500.
func TestJWTInvalidUnclassified(t *testing.T) {
	j := &JWTAuth{challenge: `Bearer realm="caddy-apigw"`}
	for _, tt := range []struct {
		name string
		err  error
		code string
	}{
		{"unclassified", errors.New("crypto/rsa: verification error"), problem.CodeInvalidToken},
		{"expired", failure.New(failure.ErrTokenExpired, "token has expired"), problem.CodeTokenExpired},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := j.invalid(tt.err)
			if p.Status != http.StatusUnauthorized || p.Code != tt.code {
				t.Fatalf("invalid(%v) = %d %s, want 401 %s", tt.err, p.Status, p.Code, tt.code)
			}
			if !strings.HasPrefix(p.Header.Get("WWW-Authenticate"), `Bearer realm="caddy-apigw", error="invalid_token"`) {
				t.Fatalf("challenge %q", p.Header.Get("WWW-Authenticate"))
			}
		})
	}
}
