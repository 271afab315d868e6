package problem

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestAppendJSON(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    *Problem
		want map[string]any
	}{
		{
			name: "plain",
			p:    New(401, CodeInvalidAPIKey, "API key is invalid"),
			want: map[string]any{"type": "about:blank", "title": "Unauthorized", "status": 401.0,
				"detail": "API key is invalid", "code": "invalid_api_key", "request_id": "rid"},
		},
		{
			name: "escaping",
			p:    New(400, CodeValidationFailed, "quote \" backslash \\ nl \n ctl \x01 <b>&"),
			want: map[string]any{"type": "about:blank", "title": "Bad Request", "status": 400.0,
				"detail": "quote \" backslash \\ nl \n ctl \x01 <b>&", "code": "validation_failed", "request_id": "rid"},
		},
		{
			name: "field errors",
			p: &Problem{Status: 400, Code: CodeValidationFailed, Detail: "d",
				Errors: []FieldError{{Field: "/email", Rule: "format", Message: "must be an email"}}},
			want: map[string]any{"type": "about:blank", "title": "Bad Request", "status": 400.0,
				"detail": "d", "code": "validation_failed", "request_id": "rid",
				"errors": []any{map[string]any{"field": "/email", "rule": "format", "message": "must be an email"}}},
		},
		{
			name: "unknown status title",
			p:    New(599, CodeInternalError, "x"),
			want: map[string]any{"type": "about:blank", "title": "Error", "status": 599.0,
				"detail": "x", "code": "internal_error", "request_id": "rid"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.p.AppendJSON(nil, "rid")
			var got map[string]any
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("invalid JSON %s: %v", b, err)
			}
			gb, _ := json.Marshal(got)
			wb, _ := json.Marshal(tc.want)
			if string(gb) != string(wb) {
				t.Errorf("got %s\nwant %s", gb, wb)
			}
		})
	}
}

func TestWrite(t *testing.T) {
	rec := httptest.NewRecorder()
	rec.Header().Set("Content-Length", "999")
	New(429, CodeRateLimited, "slow down").WithHeader("Retry-After", "7").Write(rec, "abc")
	if rec.Code != 429 {
		t.Fatalf("status %d", rec.Code)
	}
	for k, v := range map[string]string{"Content-Type": ContentType, "Retry-After": "7", "Cache-Control": "no-store", "Content-Length": ""} {
		if got := rec.Header().Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
}

func TestForStatus(t *testing.T) {
	for status, code := range map[int]string{
		400: CodeBadRequest, 401: CodeMissingCredentials, 404: CodeNotFound, 413: CodePayloadTooLarge,
		415: CodeUnsupportedMediaType, 429: CodeRateLimited, 500: CodeInternalError, 502: CodeUpstreamError,
		503: CodeServiceUnavailable, 504: CodeUpstreamError, 418: CodeBadRequest, 0: CodeInternalError,
	} {
		p := ForStatus(status)
		if p.Code != code {
			t.Errorf("ForStatus(%d).Code = %q, want %q", status, p.Code, code)
		}
		if p.Status < 400 {
			t.Errorf("ForStatus(%d).Status = %d", status, p.Status)
		}
		if http.StatusText(p.Status) == "" {
			t.Errorf("ForStatus(%d) has non-standard status %d", status, p.Status)
		}
	}
}

func BenchmarkAppendJSON(b *testing.B) {
	p := New(401, CodeInvalidToken, "token signature is invalid")
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf = p.AppendJSON(buf[:0], "3b0c1d2e-0000-4000-8000-000000000000")
	}
}

func TestForUpstream(t *testing.T) {
	for _, tc := range []struct {
		upstream, status int
		code             string
	}{
		{500, 500, CodeUpstreamError},
		{501, 501, CodeUpstreamError},
		{502, 502, CodeUpstreamError},
		{503, 503, CodeServiceUnavailable},
		{504, 504, CodeUpstreamError},
		{507, 507, CodeUpstreamError},
		{600, 502, CodeUpstreamError},
		{404, 404, CodeNotFound},
		{400, 400, CodeBadRequest},
	} {
		p := ForUpstream(tc.upstream)
		if p.Status != tc.status || p.Code != tc.code {
			t.Errorf("upstream %d: got %d %s, want %d %s", tc.upstream, p.Status, p.Code, tc.status, tc.code)
		}
	}
}
