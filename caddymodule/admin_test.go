package caddymodule

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/apigw/caddy-apigw/store"
)

// fakeDomain implements the three admin services in memory.
type fakeDomain struct {
	mu       sync.Mutex
	keys     map[string]keyRecord
	jtis     map[string]time.Time
	sessions map[string]sessionInfo
	fail     error
	n        int
}

func newFakeDomain() *fakeDomain {
	return &fakeDomain{keys: map[string]keyRecord{}, jtis: map[string]time.Time{}, sessions: map[string]sessionInfo{}}
}

func (f *fakeDomain) Create(_ context.Context, user string, scopes []string, md map[string]string, exp time.Time) (keyRecord, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return keyRecord{}, "", f.fail
	}
	f.n++
	rec := keyRecord{ID: fmt.Sprintf("k%d", f.n), User: user, Scopes: scopes, Metadata: md, Created: time.Unix(1_800_000_000, 0).UTC(), Expires: exp, Source: "admin"}
	f.keys[rec.ID] = rec
	return rec, "secret-key-" + rec.ID, nil
}

func (f *fakeDomain) List(context.Context) ([]keyRecord, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	var out []keyRecord
	for _, k := range f.keys {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (f *fakeDomain) Revoke(_ context.Context, id string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return false, f.fail
	}
	_, ok := f.keys[id]
	delete(f.keys, id)
	return ok, nil
}

func (f *fakeDomain) RevokeJTI(_ context.Context, jti string, exp time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.jtis[jti] = exp
	return nil
}

type fakeSessions struct{ *fakeDomain }

func (f fakeSessions) List(_ context.Context, user string) ([]sessionInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []sessionInfo
	for _, s := range f.sessions {
		if s.User == user || user == "" {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, f.fail
}

func (f fakeSessions) End(_ context.Context, id string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.sessions[id]
	delete(f.sessions, id)
	return ok, f.fail
}

func (f fakeSessions) EndUser(_ context.Context, user string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for id, s := range f.sessions {
		if s.User == user {
			delete(f.sessions, id)
			n++
		}
	}
	return n, f.fail
}

// adminServer serves the AdminAPI's routes like Caddy's admin endpoint
// does (a ServeMux; a returned error becomes Caddy's error JSON).
func adminServer(t *testing.T, api *AdminAPI) *httptest.Server {
	mux := http.NewServeMux()
	for _, rt := range api.Routes() {
		h := rt.Handler
		mux.HandleFunc(rt.Pattern, func(w http.ResponseWriter, r *http.Request) {
			if err := h.ServeHTTP(w, r); err != nil {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusInternalServerError)
				fmt.Fprintf(w, `{"error":%q}`, err.Error())
			}
		})
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestAdminAPI(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	dom := newFakeDomain()
	dom.sessions["s1"] = sessionInfo{ID: "s1", User: "alice", Created: now, LastSeen: now}
	dom.sessions["s2"] = sessionInfo{ID: "s2", User: "alice", Created: now}
	dom.sessions["s3"] = sessionInfo{ID: "s3", User: "bob", Created: now}
	api := &AdminAPI{
		services: func() (adminServices, error) {
			return adminServices{keys: dom, revocations: dom, sessions: fakeSessions{dom}}, nil
		},
		now: func() time.Time { return now },
	}
	srv := adminServer(t, api)
	big := `{"user":"` + strings.Repeat("a", MaxAdminBody) + `"}`

	for _, tc := range []struct {
		name, method, path, body, ctype string
		status                          int
		code                            string // problem code, or "" for success
		contains                        []string
		absent                          []string
		header                          map[string]string
	}{
		{name: "create key", method: "POST", path: "/apigw/keys", body: `{"user":"alice","scopes":["read","write"],"metadata":{"team":"a"},"expires":"720h"}`,
			status: 201, contains: []string{`"id":"k1"`, `"key":"secret-key-k1"`}, header: map[string]string{"Location": "/apigw/keys/k1", "Cache-Control": "no-store"}},
		{name: "create key rfc3339 expiry", method: "POST", path: "/apigw/keys", body: `{"user":"bob","expires":"2031-01-01T00:00:00Z"}`, ctype: "application/json; charset=utf-8",
			status: 201, contains: []string{`"id":"k2"`}},
		{name: "list keys", method: "GET", path: "/apigw/keys", status: 200,
			contains: []string{`"id":"k1"`, `"user":"alice"`, `"scopes":["read","write"]`, `"metadata":{"team":"a"}`, `"expires":"2030-01-31T00:00:00Z"`, `"source":"admin"`, `"expires":"2031-01-01T00:00:00Z"`},
			absent:   []string{"secret-key", "hash"}},
		{name: "past expiry", method: "POST", path: "/apigw/keys", body: `{"user":"x","expires":"2020-01-01T00:00:00Z"}`, status: 400, code: "validation_failed", contains: []string{`"field":"/expires"`, "past"}},
		{name: "bad expiry", method: "POST", path: "/apigw/keys", body: `{"user":"x","expires":"soon"}`, status: 400, code: "validation_failed", contains: []string{"RFC 3339"}},
		{name: "negative duration", method: "POST", path: "/apigw/keys", body: `{"user":"x","expires":"-1h"}`, status: 400, code: "validation_failed"},
		{name: "numeric expiry", method: "POST", path: "/apigw/keys", body: `{"user":"carol","expires":1924992000}`, status: 201, contains: []string{`"id":"k3"`}},
		{name: "past numeric expiry", method: "POST", path: "/apigw/keys", body: `{"user":"x","expires":1000}`, status: 400, code: "validation_failed", contains: []string{`"field":"/expires"`, "past"}},
		{name: "boolean expiry", method: "POST", path: "/apigw/keys", body: `{"user":"x","expires":true}`, status: 400, code: "validation_failed", contains: []string{`"field":"/expires"`}},
		{name: "empty expiry is none", method: "POST", path: "/apigw/keys", body: `{"user":"dave","expires":""}`, status: 201, contains: []string{`"id":"k4"`}},
		{name: "missing user", method: "POST", path: "/apigw/keys", body: `{"scopes":["a"]}`, status: 400, code: "validation_failed", contains: []string{`"field":"/user"`}},
		{name: "control char user", method: "POST", path: "/apigw/keys", body: `{"user":"a\u0000b"}`, status: 400, code: "validation_failed"},
		{name: "scope with space", method: "POST", path: "/apigw/keys", body: `{"user":"a","scopes":["a b"]}`, status: 400, code: "validation_failed", contains: []string{`"field":"/scopes/0"`}},
		{name: "unknown field", method: "POST", path: "/apigw/keys", body: `{"user":"a","key":"chosen"}`, status: 400, code: "validation_failed", contains: []string{`"field":"/key"`, "additionalProperties"}},
		{name: "wrong type", method: "POST", path: "/apigw/keys", body: `{"user":42}`, status: 400, code: "validation_failed", contains: []string{`"field":"/user"`, "must be a string"}},
		{name: "not an object", method: "POST", path: "/apigw/keys", body: `["a"]`, status: 400, code: "validation_failed", contains: []string{"JSON object"}},
		{name: "malformed json", method: "POST", path: "/apigw/keys", body: `{"user":`, status: 400, code: "bad_request"},
		{name: "syntax error", method: "POST", path: "/apigw/keys", body: `{"user" "x"}`, status: 400, code: "bad_request", contains: []string{"byte"}},
		{name: "trailing data", method: "POST", path: "/apigw/keys", body: `{"user":"a"} {}`, status: 400, code: "bad_request", contains: []string{"after the object"}},
		{name: "empty body", method: "POST", path: "/apigw/keys", body: ``, status: 400, code: "bad_request", contains: []string{"empty"}},
		{name: "oversized body", method: "POST", path: "/apigw/keys", body: big, status: 413, code: "payload_too_large"},
		{name: "form-encoded body is not JSON", method: "POST", path: "/apigw/keys", body: `user=a`, ctype: "application/x-www-form-urlencoded", status: 400, code: "bad_request"},
		{name: "curl -d JSON with its default content type", method: "POST", path: "/apigw/keys", body: `{"user":"curl"}`, ctype: "application/x-www-form-urlencoded", status: 201},
		{name: "xml body", method: "POST", path: "/apigw/keys", body: `<user/>`, ctype: "application/xml", status: 415, code: "unsupported_media_type"},
		{name: "keys wrong method", method: "PUT", path: "/apigw/keys", body: `{}`, status: 405, code: "method_not_allowed", header: map[string]string{"Allow": "GET, POST"}},
		{name: "delete key", method: "DELETE", path: "/apigw/keys/k1", status: 204},
		{name: "delete key again", method: "DELETE", path: "/apigw/keys/k1", status: 404, code: "not_found"},
		{name: "delete unknown key", method: "DELETE", path: "/apigw/keys/nope", status: 404, code: "not_found"},
		{name: "key wrong method", method: "GET", path: "/apigw/keys/k2", status: 405, code: "method_not_allowed", header: map[string]string{"Allow": "DELETE"}},
		{name: "key nested path", method: "DELETE", path: "/apigw/keys/k2/x", status: 404, code: "not_found"},
		{name: "revoke jti", method: "POST", path: "/apigw/revocations", body: `{"jti":"abc","exp":1900000000}`, status: 201, contains: []string{`"jti":"abc"`, `"exp":"2030-03-17T17:46:40Z"`}},
		{name: "revoke jti rfc3339", method: "POST", path: "/apigw/revocations", body: `{"jti":"def","exp":"2030-06-01T00:00:00Z"}`, status: 201},
		{name: "revoke jti without exp", method: "POST", path: "/apigw/revocations", body: `{"jti":"ghi"}`, status: 201, absent: []string{`"exp"`}},
		{name: "revoke past exp", method: "POST", path: "/apigw/revocations", body: `{"jti":"x","exp":1000}`, status: 400, code: "validation_failed", contains: []string{`"field":"/exp"`}},
		{name: "revoke bad exp", method: "POST", path: "/apigw/revocations", body: `{"jti":"x","exp":true}`, status: 400, code: "validation_failed"},
		{name: "revoke no jti", method: "POST", path: "/apigw/revocations", body: `{}`, status: 400, code: "validation_failed", contains: []string{`"field":"/jti"`}},
		{name: "revocations wrong method", method: "GET", path: "/apigw/revocations", status: 405, code: "method_not_allowed", header: map[string]string{"Allow": "POST"}},
		{name: "list sessions", method: "GET", path: "/apigw/sessions?user=alice", status: 200, contains: []string{`"id":"s1"`, `"id":"s2"`, `"last_seen":"2030-01-01T00:00:00Z"`}, absent: []string{"s3"}},
		{name: "list sessions bad user", method: "GET", path: "/apigw/sessions?user=", status: 400, code: "validation_failed", contains: []string{"query/user"}},
		{name: "list all sessions", method: "GET", path: "/apigw/sessions", status: 200, contains: []string{`"id":"s1"`, `"id":"s3"`}},
		{name: "end session", method: "DELETE", path: "/apigw/sessions/s1", status: 204},
		{name: "end unknown session", method: "DELETE", path: "/apigw/sessions/s1", status: 404, code: "not_found"},
		{name: "end user sessions", method: "DELETE", path: "/apigw/sessions?user=alice", status: 204, header: map[string]string{"Apigw-Sessions-Ended": "1"}},
		{name: "end sessions no user", method: "DELETE", path: "/apigw/sessions", status: 400, code: "validation_failed"},
		{name: "sessions wrong method", method: "POST", path: "/apigw/sessions?user=a", status: 405, code: "method_not_allowed", header: map[string]string{"Allow": "GET, DELETE"}},
		{name: "session wrong method", method: "GET", path: "/apigw/sessions/s3", status: 405, code: "method_not_allowed"},
		{name: "unknown route", method: "GET", path: "/apigw/nothing", status: 404, code: "not_found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
			if tc.body != "" {
				ct := tc.ctype
				if ct == "" {
					ct = "application/json"
				}
				req.Header.Set("Content-Type", ct)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body := readAll(t, resp)
			if resp.StatusCode != tc.status {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tc.status, body)
			}
			if tc.code != "" {
				if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
					t.Fatalf("content type %q for a problem", ct)
				}
				var p struct {
					Status    int    `json:"status"`
					Code      string `json:"code"`
					RequestID string `json:"request_id"`
				}
				if err := json.Unmarshal([]byte(body), &p); err != nil || p.Code != tc.code || p.Status != tc.status || p.RequestID == "" {
					t.Fatalf("problem = %+v (%v), want code %s; body %s", p, err, tc.code, body)
				}
			} else if tc.status != 204 && resp.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("content type %q", resp.Header.Get("Content-Type"))
			}
			for _, s := range tc.contains {
				if !strings.Contains(body, s) {
					t.Errorf("body lacks %q: %s", s, body)
				}
			}
			for _, s := range tc.absent {
				if strings.Contains(body, s) {
					t.Errorf("body contains %q: %s", s, body)
				}
			}
			for k, v := range tc.header {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
		})
	}
	if _, ok := dom.jtis["abc"]; !ok {
		t.Error("jti abc not revoked")
	}
	if !dom.jtis["ghi"].IsZero() {
		t.Error("jti without exp got an expiry")
	}
	if _, ok := dom.sessions["s3"]; !ok {
		t.Error("bob's session was ended")
	}
}

func TestAdminAPIStoreErrors(t *testing.T) {
	dom := newFakeDomain()
	api := &AdminAPI{services: func() (adminServices, error) {
		return adminServices{keys: dom, revocations: dom, sessions: fakeSessions{dom}}, nil
	}}
	srv := adminServer(t, api)
	for _, tc := range []struct {
		name   string
		err    error
		status int
		code   string
	}{
		{"store down", fmt.Errorf("reading: %w", store.ErrUnavailable), 503, "service_unavailable"},
		{"other failure", fmt.Errorf("boom: secret-ish internal detail"), 500, "internal_error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dom.fail = tc.err
			resp, err := http.Get(srv.URL + "/apigw/keys")
			if err != nil {
				t.Fatal(err)
			}
			body := readAll(t, resp)
			if resp.StatusCode != tc.status || !strings.Contains(body, `"code":"`+tc.code+`"`) || strings.Contains(body, "secret-ish") {
				t.Fatalf("status %d body %s", resp.StatusCode, body)
			}
		})
	}
	t.Run("no app", func(t *testing.T) {
		api := &AdminAPI{services: func() (adminServices, error) { return adminServices{}, errNoApp }}
		srv := adminServer(t, api)
		resp, err := http.Get(srv.URL + "/apigw/keys")
		if err != nil {
			t.Fatal(err)
		}
		if body := readAll(t, resp); resp.StatusCode != 503 || !strings.Contains(body, "service_unavailable") {
			t.Fatalf("status %d body %s", resp.StatusCode, body)
		}
	})
	t.Run("running config without apigw", func(t *testing.T) {
		// With no config loaded, the real lookup must answer, not panic.
		if _, err := runningServices(); err == nil {
			t.Skip("a config is running in this process")
		}
		srv := adminServer(t, new(AdminAPI))
		resp, err := http.Get(srv.URL + "/apigw/keys")
		if err != nil {
			t.Fatal(err)
		}
		if body := readAll(t, resp); resp.StatusCode != 503 {
			t.Fatalf("status %d body %s", resp.StatusCode, body)
		}
	})
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return b.String()
}

var _ caddy.AdminRouter = (*AdminAPI)(nil)
