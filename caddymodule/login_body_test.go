package caddymodule

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// apigw_login checks the media type (and charset) before the size: an
// oversized body of the wrong type is a 415 with Accept-Post, as before
// the one body reader.
func TestLoginBodyTypeBeforeSize(t *testing.T) {
	l := &Login{MaxBody: 16}
	big := strings.Repeat("a", 64)
	for _, tc := range []struct {
		name, ct   string
		status     int
		acceptPost bool
	}{
		{name: "text", ct: "text/plain", status: http.StatusUnsupportedMediaType, acceptPost: true},
		{name: "no type", status: http.StatusUnsupportedMediaType, acceptPost: true},
		{name: "charset", ct: "application/json; charset=latin1", status: http.StatusUnsupportedMediaType},
		{name: "json", ct: "application/json", status: http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/login", strings.NewReader(big))
			if tc.ct != "" {
				r.Header.Set("Content-Type", tc.ct)
			}
			_, _, p := l.readCredentials(r)
			if p == nil || p.Status != tc.status {
				t.Fatalf("got %+v, want status %d", p, tc.status)
			}
			if got := p.Header.Get("Accept-Post") != ""; got != tc.acceptPost {
				t.Fatalf("Accept-Post present %v, want %v", got, tc.acceptPost)
			}
		})
	}
}
