package caddymodule

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/google/uuid"
)

func TestRequestIDHandler(t *testing.T) {
	for _, tc := range []struct {
		name     string
		h        RequestIDHandler
		incoming map[string]string
		want     string // "" = a fresh UUID
		extraHdr string
	}{
		{name: "fresh", h: RequestIDHandler{}},
		{name: "untrusted incoming replaced", h: RequestIDHandler{}, incoming: map[string]string{"X-Request-ID": "abc"}},
		{name: "trusted incoming kept", h: RequestIDHandler{TrustIncoming: true}, incoming: map[string]string{"X-Request-ID": "trace-123.4"}, want: "trace-123.4"},
		{name: "trusted but malformed", h: RequestIDHandler{TrustIncoming: true}, incoming: map[string]string{"X-Request-ID": "a b\"<script>"}},
		{name: "trusted but too long", h: RequestIDHandler{TrustIncoming: true}, incoming: map[string]string{"X-Request-ID": strings.Repeat("a", 129)}},
		{name: "custom header", h: RequestIDHandler{TrustIncoming: true, Header: "x-correlation-id"}, incoming: map[string]string{"X-Correlation-ID": "corr-1"}, want: "corr-1", extraHdr: "X-Correlation-Id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.h
			if err := h.Provision(caddy.Context{}); err != nil {
				t.Fatal(err)
			}
			if err := h.Validate(); err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest("GET", "/", nil)
			for k, v := range tc.incoming {
				r.Header.Set(k, v)
			}
			repl := caddyhttp.NewTestReplacer(r)
			extra := new(caddyhttp.ExtraLogFields)
			ctx := context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl)
			ctx = context.WithValue(ctx, caddyhttp.ExtraLogFieldsCtxKey, extra)
			r = r.WithContext(ctx)
			w := httptest.NewRecorder()
			var upstream string
			err := h.ServeHTTP(w, r, caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				upstream = r.Header.Get("X-Request-ID")
				return nil
			}))
			if err != nil {
				t.Fatal(err)
			}
			id := w.Header().Get("X-Request-ID")
			if tc.want != "" {
				if id != tc.want {
					t.Fatalf("id %q, want %q", id, tc.want)
				}
			} else if _, err := uuid.Parse(id); err != nil {
				t.Fatalf("id %q is not a UUID", id)
			}
			if upstream != id {
				t.Fatalf("upstream got %q, response %q", upstream, id)
			}
			if v, _ := repl.Get(RequestIDVar); v != id {
				t.Fatalf("placeholder %v", v)
			}
			if got := RequestID(w, r); got != id {
				t.Fatalf("RequestID() = %q", got)
			}
			if tc.extraHdr != "" && w.Header().Get(tc.extraHdr) != id {
				t.Fatalf("%s not set", tc.extraHdr)
			}
			if n, m := len(w.Header().Values("X-Request-ID")), len(r.Header.Values("X-Request-ID")); n != 1 || m != 1 {
				t.Fatalf("X-Request-ID has %d response and %d request values, want 1", n, m)
			}
		})
	}
}

func TestNewRequestID(t *testing.T) {
	if requestIDKey != http.CanonicalHeaderKey(RequestIDHeader) {
		t.Fatalf("requestIDKey %q is not the canonical form of %q", requestIDKey, RequestIDHeader)
	}
	seen := map[string]bool{}
	for range 1000 {
		id := NewRequestID()
		u, err := uuid.Parse(id)
		if err != nil || len(id) != 36 || u.Version() != 4 || u.Variant() != uuid.RFC4122 || u.String() != id {
			t.Fatalf("%q is not a canonical random UUID (%v)", id, err)
		}
		if seen[id] {
			t.Fatalf("%q repeated", id)
		}
		seen[id] = true
	}
}

// TestSetRequestIDSeparateValues: the request and response headers get
// their own value slots, so a handler rewriting one in place (as Caddy's
// header replace does) leaves the other alone.
func TestSetRequestIDSeparateValues(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(r *http.Request, w http.ResponseWriter)
		req  string
		resp string
	}{
		{"edit request value", func(r *http.Request, _ http.ResponseWriter) { r.Header["X-Request-Id"][0] = "changed" }, "changed", "id-1"},
		{"edit response value", func(_ *http.Request, w http.ResponseWriter) { w.Header()["X-Request-Id"][0] = "changed" }, "id-1", "changed"},
		{"append to request", func(r *http.Request, _ http.ResponseWriter) { r.Header.Add("X-Request-ID", "more") }, "id-1", "id-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			w := httptest.NewRecorder()
			SetRequestID(w, r, "id-1")
			tc.edit(r, w)
			if got := r.Header.Get("X-Request-ID"); got != tc.req {
				t.Fatalf("request header %q, want %q", got, tc.req)
			}
			if got := w.Header().Values("X-Request-ID"); len(got) != 1 || got[0] != tc.resp {
				t.Fatalf("response header %q, want [%s]", got, tc.resp)
			}
		})
	}
}

func TestRequestIDCaddyfile(t *testing.T) {
	for _, tc := range []struct{ input, want string }{
		{"apigw_request_id {\n trust_incoming\n header X-Correlation-ID\n}", ""},
		{"apigw_request_id {\n header\n}", "wrong argument count"},
		{"apigw_request_id {\n header bad(name)\n}", "not a valid header name"},
		{"apigw_request_id {\n trust\n}", "unknown option"},
		{"apigw_request_id now", "wrong argument count"},
	} {
		t.Run(tc.input, func(t *testing.T) {
			_, err := parseRequestID(httpcaddyfile.Helper{Dispenser: caddyfile.NewTestDispenser(tc.input)})
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}
