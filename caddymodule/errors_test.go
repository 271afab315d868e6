package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/apigw/caddy-apigw/edge"
	"github.com/apigw/caddy-apigw/failure"
	"github.com/apigw/caddy-apigw/problem"
)

func TestErrorsHandler(t *testing.T) {
	bigBody := strings.Repeat("x", 5<<20)
	for _, tc := range []struct {
		name       string
		e          Errors
		status     int
		body       string
		hdr        map[string]string
		wantErr    int // 0: passed through
		wantBody   string
		wantHeader map[string]string // "" = absent
		logs       int
	}{
		{name: "2xx passes, leaky headers go", status: 200, body: "ok", hdr: map[string]string{"Server": "nginx", "X-Powered-By": "PHP", "Via": "1.1 Caddy", "X-Custom": "1"},
			wantBody: "ok", wantHeader: map[string]string{"Server": "", "X-Powered-By": "", "Via": "", "X-Custom": "1"}},
		{name: "4xx passes", status: 404, body: "no such user", wantBody: "no such user"},
		{name: "4xx scrubbed on demand", e: Errors{Scrub4xx: true}, status: 404, body: "no such user /srv/x", wantErr: 404, logs: 1},
		{name: "500 keeps its status, not its body", status: 500, body: "trace", hdr: map[string]string{"X-Debug": "sql", "Set-Cookie": "a=b", "Content-Type": "text/plain"}, wantErr: 500, logs: 1,
			wantHeader: map[string]string{"X-Debug": "", "Set-Cookie": "", "Content-Type": "", "X-Request-Id": "pre-set"}},
		{name: "upstream CORS grant dropped on a scrubbed answer", status: 500, body: "x", hdr: map[string]string{"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Credentials": "true", "X-Leak": "1"}, wantErr: 500, logs: 1,
			wantHeader: map[string]string{"Access-Control-Allow-Origin": "", "Access-Control-Allow-Credentials": "", "X-Leak": ""}},
		{name: "upstream CORS grant dropped on a passed answer", status: 200, body: "ok", hdr: map[string]string{"Access-Control-Allow-Origin": "*", "access-control-expose-headers": "X-Secret"},
			wantBody: "ok", wantHeader: map[string]string{"Access-Control-Allow-Origin": "", "Access-Control-Expose-Headers": ""}},
		{name: "503 keeps Retry-After", status: 503, body: "down", hdr: map[string]string{"Retry-After": "30"}, wantErr: 503, logs: 1},
		{name: "huge 5xx body bounded", status: 500, body: bigBody, wantErr: 500, logs: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.e
			ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
			defer cancel()
			if err := e.Provision(ctx); err != nil {
				t.Fatal(err)
			}
			core, logs := observer.New(zap.ErrorLevel)
			e.logger = zap.New(core)
			r := httptest.NewRequest("GET", "/x", nil)
			repl := caddyhttp.NewTestReplacer(r)
			r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl))
			w := httptest.NewRecorder()
			w.Header().Set("Server", "Caddy")
			w.Header().Set("X-Request-Id", "pre-set")
			repl.Set(RequestIDVar, "pre-set")
			err := e.ServeHTTP(w, r, caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				for k, v := range tc.hdr {
					w.Header().Add(k, v)
				}
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
				return nil
			}))
			if tc.wantErr == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if w.Code != tc.status || w.Body.String() != tc.wantBody {
					t.Fatalf("got %d %q", w.Code, w.Body.String())
				}
			} else {
				var p *problem.Problem
				if !errors.As(err, &p) || p.Status != tc.wantErr {
					t.Fatalf("got %v, want problem %d", err, tc.wantErr)
				}
				if w.Body.Len() != 0 {
					t.Fatalf("upstream body reached the client: %q", w.Body.String()[:min(w.Body.Len(), 50)])
				}
				if tc.hdr["Retry-After"] != "" && p.Header.Get("Retry-After") != tc.hdr["Retry-After"] {
					t.Fatalf("Retry-After lost: %v", p.Header)
				}
			}
			if w.Header().Get("Server") != "" {
				t.Fatalf("Server header kept")
			}
			for k, v := range tc.wantHeader {
				if got := w.Header().Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if logs.Len() != tc.logs {
				t.Fatalf("%d error logs, want %d", logs.Len(), tc.logs)
			}
			for _, l := range logs.All() {
				if l.ContextMap()["request_id"] != "pre-set" {
					t.Fatalf("log without request id: %v", l.ContextMap())
				}
				if b, _ := l.ContextMap()["upstream_body"].(string); len(b) > 2048 {
					t.Fatalf("logged %d bytes of body", len(b))
				}
			}
		})
	}
}

// TestProblemForFailure: a domain failure returned to Caddy as it is
// (not yet turned into a problem by its handler) is rendered through the
// one error table, with its client-safe detail; the edge's refusals are
// the table's problems too.
func TestProblemForFailure(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	for _, tc := range []struct {
		err    error
		status int
		code   string
		detail string
	}{
		{failure.New(failure.ErrRateLimited, "slow down"), 429, "rate_limited", "slow down"},
		{caddyhttp.Error(500, failure.Wrap(failure.ErrUnavailable, "the store is not answering", errors.New("dial tcp: refused"))), 503, "service_unavailable", "the store is not answering"},
		{fmt.Errorf("limiter: %w", failure.ErrUnavailable), 503, "service_unavailable", problem.ForStatus(503).Detail},
		{caddyhttp.Error(400, edge.RefuseDotSegment), 400, "bad_request", edge.RefuseDotSegment.Detail},
		{caddyhttp.Error(405, edge.RefuseTrace), 405, "method_not_allowed", edge.RefuseTrace.Detail},
		{caddyhttp.Error(502, errors.New("dial tcp 10.0.0.1:80: connection refused")), 502, "upstream_error", problem.ForStatus(502).Detail},
	} {
		p := ProblemFor(r, tc.err)
		if p.Status != tc.status || p.Code != tc.code || p.Detail != tc.detail {
			t.Errorf("ProblemFor(%v) = %d %s %q, want %d %s %q", tc.err, p.Status, p.Code, p.Detail, tc.status, tc.code, tc.detail)
		}
	}
	if p := ProblemFor(r, caddyhttp.Error(405, edge.RefuseConnect)); p.Header.Get("Allow") == "" {
		t.Error("405 refusal without Allow")
	}
}
