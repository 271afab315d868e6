package failure

import (
	"errors"
	"fmt"
	"testing"
)

func TestKindsThroughWrapping(t *testing.T) {
	cause := errors.New("dial tcp 127.0.0.1:6379: connection refused")
	tests := []struct {
		name       string
		err        error
		kind       error
		notKind    error
		detail     string
		causeFound bool
	}{
		{"new", New(ErrTokenExpired, "token has expired"), ErrTokenExpired, ErrInvalidToken, "token has expired", false},
		{"wrap", Wrap(ErrUnavailable, "the store is unavailable", cause), ErrUnavailable, ErrRateLimited, "the store is unavailable", true},
		{"fmt-wrapped", fmt.Errorf("zone api: %w", New(ErrRateLimited, "too many requests")), ErrRateLimited, ErrUnavailable, "too many requests", false},
		{"plain error", cause, nil, ErrUnavailable, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.kind != nil && !errors.Is(tt.err, tt.kind) {
				t.Errorf("errors.Is(%v, %v) = false", tt.err, tt.kind)
			}
			if errors.Is(tt.err, tt.notKind) {
				t.Errorf("errors.Is(%v, %v) = true", tt.err, tt.notKind)
			}
			if got := Detail(tt.err); got != tt.detail {
				t.Errorf("Detail = %q, want %q", got, tt.detail)
			}
			if got := errors.Is(tt.err, cause); got != tt.causeFound {
				t.Errorf("errors.Is(err, cause) = %v, want %v", got, tt.causeFound)
			}
		})
	}
}

func TestErrorText(t *testing.T) {
	err := Wrap(ErrUnavailable, "the store is unavailable", errors.New("timeout"))
	if got, want := err.Error(), "unavailable: the store is unavailable: timeout"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if got, want := New(ErrBadRequest, "").Error(), "bad request"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
