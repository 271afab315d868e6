package caddymodule

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/apigw/caddy-apigw/authn"
	"github.com/apigw/caddy-apigw/failure"
	"github.com/apigw/caddy-apigw/sessions"
	"github.com/apigw/caddy-apigw/store"
)

// flakyStore is a memory store whose reads fail with err while err is set.
type flakyStore struct {
	store.Store
	mu  sync.Mutex
	err error
}

func (f *flakyStore) setErr(err error) { f.mu.Lock(); f.err = err; f.mu.Unlock() }

func (f *flakyStore) fail() error { f.mu.Lock(); defer f.mu.Unlock(); return f.err }

func (f *flakyStore) Get(ctx context.Context, key string) ([]byte, error) {
	if err := f.fail(); err != nil {
		return nil, err
	}
	return f.Store.Get(ctx, key)
}

func (f *flakyStore) Keys(ctx context.Context, prefix string) ([]string, error) {
	if err := f.fail(); err != nil {
		return nil, err
	}
	return f.Store.Keys(ctx, prefix)
}

// testAdmin returns an AdminAPI on a fresh memory store.
func testAdmin(t *testing.T, now time.Time) (*AdminAPI, *flakyStore, *sessions.Manager) {
	t.Helper()
	mem := store.NewMemory(time.Minute)
	t.Cleanup(func() { _ = mem.Close() })
	fs := &flakyStore{Store: mem}
	api := &AdminAPI{
		store: fs,
		now:   func() time.Time { return now },
	}
	return api, fs, sessions.NewManager(fs, sessions.Config{})
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
	now := time.Now().UTC().Truncate(time.Second)
	api, _, svc := testAdmin(t, now)
	ctx := context.Background()
	vars := map[string]string{}
	for i, u := range []string{"alice", "alice", "bob"} {
		_, info, err := svc.Create(ctx, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		vars[fmt.Sprintf("{s%d}", i+1)] = info.ID
	}
	unregister := authn.RegisterConfigKeys("test", []authn.KeyRecord{{ID: "cfg-admin", User: "ops", Scopes: []string{"admin"}}})
	t.Cleanup(unregister)
	srv := adminServer(t, api)
	big := `{"user":"` + strings.Repeat("a", MaxAdminBody) + `"}`
	exp30d := now.Add(720 * time.Hour).Format(time.RFC3339)
	farExp := now.Add(24 * 365 * time.Hour).Truncate(time.Second).UTC()

	for _, tc := range []struct {
		name, method, path, body, ctype string
		ifMatch                         string // If-Match header, after {var} substitution
		status                          int
		code                            string // problem code, or "" for success
		contains                        []string
		absent                          []string
		header                          map[string]string
		save                            string // save the ETag header under this {var}
	}{
		{name: "create key", method: "POST", path: "/apigw/keys", body: `{"user":"alice","id":"k1","scopes":["read","write"],"roles":["ops"],"metadata":{"team":"a","tier":"gold"},"allow_cidr":["10.0.0.1","192.168.0.0/16"],"expires":"720h"}`,
			status: 201, contains: []string{`"id":"k1"`, `"key":"apigw_`}, header: map[string]string{"Location": "/apigw/keys/k1", "Cache-Control": "no-store"}},
		{name: "create key rfc3339 expiry", method: "POST", path: "/apigw/keys", body: `{"user":"bob","id":"k2","expires":"` + farExp.Format(time.RFC3339) + `"}`, ctype: "application/json; charset=utf-8",
			status: 201, contains: []string{`"id":"k2"`}},
		{name: "create key with a taken id", method: "POST", path: "/apigw/keys", body: `{"user":"x","id":"k1"}`, status: 409, code: "conflict", contains: []string{`"field":"/id"`}},
		{name: "create key with a config key's id", method: "POST", path: "/apigw/keys", body: `{"user":"x","id":"cfg-admin"}`, status: 409, code: "conflict"},
		{name: "create key with a bad id", method: "POST", path: "/apigw/keys", body: `{"user":"x","id":"a/b"}`, status: 400, code: "validation_failed", contains: []string{`"field":"/id"`}},
		{name: "create key with a bad cidr", method: "POST", path: "/apigw/keys", body: `{"user":"x","allow_cidr":["10.0.0.0/99"]}`, status: 400, code: "validation_failed", contains: []string{`"field":"/allow_cidr/0"`}},
		{name: "get key", method: "GET", path: "/apigw/keys/k1", status: 200, save: "{etag1}",
			contains: []string{`"id":"k1"`, `"user":"alice"`, `"scopes":["read","write"]`, `"roles":["ops"]`, `"metadata":{"team":"a","tier":"gold"}`,
				`"allow_cidr":["10.0.0.1/32","192.168.0.0/16"]`, `"expires":"` + exp30d + `"`, `"source":"runtime"`, `"revoked":false`},
			absent: []string{"apigw_", "hash"}},
		{name: "get key not modified", method: "GET", path: "/apigw/keys/k1", ifMatch: "", status: 200},
		{name: "get config key", method: "GET", path: "/apigw/keys/cfg-admin", status: 200, contains: []string{`"source":"config"`, `"scopes":["admin"]`}},
		{name: "get unknown key", method: "GET", path: "/apigw/keys/nope", status: 404, code: "not_found"},
		{name: "list keys", method: "GET", path: "/apigw/keys", status: 200,
			contains: []string{`"data":[`, `"id":"cfg-admin"`, `"id":"k1"`, `"id":"k2"`, `"expires":"` + farExp.Format(time.RFC3339) + `"`},
			absent:   []string{"apigw_", "hash", `"next"`}},
		{name: "list keys of a user", method: "GET", path: "/apigw/keys?user=bob", status: 200, contains: []string{`"id":"k2"`}, absent: []string{`"id":"k1"`}},
		{name: "list keys page 1", method: "GET", path: "/apigw/keys?size=2", status: 200, contains: []string{`"id":"cfg-admin"`, `"id":"k1"`, `"next":"azE"`}, absent: []string{`"id":"k2"`}},
		{name: "list keys page 2", method: "GET", path: "/apigw/keys?size=2&after=azE", status: 200, contains: []string{`"id":"k2"`}, absent: []string{`"id":"k1"`, `"next"`}},
		{name: "list keys size 0", method: "GET", path: "/apigw/keys?size=0", status: 400, code: "validation_failed", contains: []string{`"field":"query/size"`}},
		{name: "list keys size too big", method: "GET", path: "/apigw/keys?size=1001", status: 400, code: "validation_failed", contains: []string{`"field":"query/size"`}},
		{name: "list keys size not a number", method: "GET", path: "/apigw/keys?size=ten", status: 400, code: "validation_failed", contains: []string{`"field":"query/size"`}},
		{name: "list keys bad cursor", method: "GET", path: "/apigw/keys?after=!!", status: 400, code: "validation_failed", contains: []string{`"field":"query/after"`}},
		{name: "list keys unknown parameter", method: "GET", path: "/apigw/keys?limit=5", status: 400, code: "validation_failed", contains: []string{`"field":"query/limit"`}},
		{name: "patch with a stale If-Match", method: "PATCH", path: "/apigw/keys/k1", body: `{"scopes":["read"]}`, ifMatch: `"0000"`, status: 412, code: "precondition_failed", contains: []string{`"field":"header/If-Match"`}},
		{name: "patch key", method: "PATCH", path: "/apigw/keys/k1", body: `{"scopes":["read"],"metadata":{"team":null,"tier":"silver"},"allow_cidr":null,"expires":null}`,
			ctype: "application/merge-patch+json", ifMatch: "{etag1}", status: 200, save: "{etag2}",
			contains: []string{`"scopes":["read"]`, `"roles":["ops"]`, `"metadata":{"tier":"silver"}`, `"allow_cidr":[]`, `"expires":null`}},
		{name: "patch with the old ETag", method: "PATCH", path: "/apigw/keys/k1", body: `{"roles":[]}`, ifMatch: "{etag1}", status: 412, code: "precondition_failed"},
		{name: "patch with the new ETag", method: "PATCH", path: "/apigw/keys/k1", body: `{"roles":[]}`, ifMatch: "{etag2}", status: 200, contains: []string{`"roles":[]`}},
		{name: "patch with If-Match star", method: "PATCH", path: "/apigw/keys/k1", body: `{"expires":"1h"}`, ifMatch: "*", status: 200, contains: []string{`"expires":"` + now.Add(time.Hour).Format(time.RFC3339) + `"`}},
		{name: "patch read-only field", method: "PATCH", path: "/apigw/keys/k1", body: `{"user":"mallory"}`, status: 400, code: "validation_failed", contains: []string{`"field":"/user"`, "readOnly"}},
		{name: "patch unknown field", method: "PATCH", path: "/apigw/keys/k1", body: `{"scope":["x"]}`, status: 400, code: "validation_failed", contains: []string{`"field":"/scope"`, "additionalProperties"}},
		{name: "patch wrong type", method: "PATCH", path: "/apigw/keys/k1", body: `{"scopes":"read"}`, status: 400, code: "validation_failed", contains: []string{`"field":"/scopes"`}},
		{name: "patch metadata wrong type", method: "PATCH", path: "/apigw/keys/k1", body: `{"metadata":{"n":1}}`, status: 400, code: "validation_failed", contains: []string{`"field":"/metadata"`}},
		{name: "patch not an object", method: "PATCH", path: "/apigw/keys/k1", body: `["scopes"]`, status: 400, code: "validation_failed"},
		{name: "patch null", method: "PATCH", path: "/apigw/keys/k1", body: `null`, status: 400, code: "validation_failed"},
		{name: "patch malformed", method: "PATCH", path: "/apigw/keys/k1", body: `{"scopes":[`, status: 400, code: "bad_request"},
		{name: "patch json-patch", method: "PATCH", path: "/apigw/keys/k1", body: `[{"op":"remove","path":"/scopes"}]`, ctype: "application/json-patch+json", status: 415, code: "unsupported_media_type"},
		{name: "patch curl form content type", method: "PATCH", path: "/apigw/keys/k1", body: `{"roles":["a"]}`, ctype: "application/x-www-form-urlencoded", status: 200, contains: []string{`"roles":["a"]`}},
		{name: "patch unknown key", method: "PATCH", path: "/apigw/keys/nope", body: `{"roles":[]}`, status: 404, code: "not_found"},
		{name: "patch config key", method: "PATCH", path: "/apigw/keys/cfg-admin", body: `{"scopes":["more"]}`, status: 409, code: "conflict", contains: []string{"configuration"}},
		{name: "rotate config key", method: "POST", path: "/apigw/keys/cfg-admin/rotate", status: 409, code: "conflict"},
		{name: "rotate key", method: "POST", path: "/apigw/keys/k2/rotate", body: `{"grace":"5s"}`, status: 201, contains: []string{`"id":"k2"`, `"key":"apigw_`}, header: map[string]string{"Location": "/apigw/keys/k2"}},
		{name: "rotate key seconds", method: "POST", path: "/apigw/keys/k2/rotate", body: `{"grace":5}`, status: 201},
		{name: "rotate key without body", method: "POST", path: "/apigw/keys/k2/rotate", status: 201},
		{name: "rotate bad grace", method: "POST", path: "/apigw/keys/k2/rotate", body: `{"grace":"soon"}`, status: 400, code: "validation_failed", contains: []string{`"field":"/grace"`}},
		{name: "rotate negative grace", method: "POST", path: "/apigw/keys/k2/rotate", body: `{"grace":-1}`, status: 400, code: "validation_failed", contains: []string{`"field":"/grace"`}},
		{name: "rotate unknown field", method: "POST", path: "/apigw/keys/k2/rotate", body: `{"grace_period":"5s"}`, status: 400, code: "validation_failed", contains: []string{`"field":"/grace_period"`}},
		{name: "rotate unknown key", method: "POST", path: "/apigw/keys/nope/rotate", status: 404, code: "not_found"},
		{name: "rotate wrong method", method: "GET", path: "/apigw/keys/k2/rotate", status: 405, code: "method_not_allowed", header: map[string]string{"Allow": "POST"}},
		{name: "past expiry", method: "POST", path: "/apigw/keys", body: `{"user":"x","expires":"2020-01-01T00:00:00Z"}`, status: 400, code: "validation_failed", contains: []string{`"field":"/expires"`, "past"}},
		{name: "bad expiry", method: "POST", path: "/apigw/keys", body: `{"user":"x","expires":"soon"}`, status: 400, code: "validation_failed", contains: []string{"RFC 3339"}},
		{name: "negative duration", method: "POST", path: "/apigw/keys", body: `{"user":"x","expires":"-1h"}`, status: 400, code: "validation_failed"},
		{name: "numeric expiry", method: "POST", path: "/apigw/keys", body: `{"user":"carol","id":"k3","expires":` + fmt.Sprint(farExp.Unix()) + `}`, status: 201, contains: []string{`"id":"k3"`}},
		{name: "past numeric expiry", method: "POST", path: "/apigw/keys", body: `{"user":"x","expires":1000}`, status: 400, code: "validation_failed", contains: []string{`"field":"/expires"`, "past"}},
		{name: "boolean expiry", method: "POST", path: "/apigw/keys", body: `{"user":"x","expires":true}`, status: 400, code: "validation_failed", contains: []string{`"field":"/expires"`}},
		{name: "empty expiry is none", method: "POST", path: "/apigw/keys", body: `{"user":"dave","expires":""}`, status: 201},
		{name: "missing user", method: "POST", path: "/apigw/keys", body: `{"scopes":["a"]}`, status: 400, code: "validation_failed", contains: []string{`"field":"/user"`}},
		{name: "control char user", method: "POST", path: "/apigw/keys", body: `{"user":"a\u0000b"}`, status: 400, code: "validation_failed"},
		{name: "scope with space", method: "POST", path: "/apigw/keys", body: `{"user":"a","scopes":["a b"]}`, status: 400, code: "validation_failed", contains: []string{`"field":"/scopes/0"`}},
		{name: "role with space", method: "POST", path: "/apigw/keys", body: `{"user":"a","roles":["a b"]}`, status: 400, code: "validation_failed", contains: []string{`"field":"/roles/0"`}},
		{name: "unknown field", method: "POST", path: "/apigw/keys", body: `{"user":"a","key":"chosen"}`, status: 400, code: "validation_failed", contains: []string{`"field":"/key"`, "additionalProperties"}},
		{name: "wrong type", method: "POST", path: "/apigw/keys", body: `{"user":42}`, status: 400, code: "validation_failed", contains: []string{`"field":"/user"`, "must be a string"}},
		{name: "wrong type in list", method: "POST", path: "/apigw/keys", body: `{"user":"a","roles":"ops"}`, status: 400, code: "validation_failed", contains: []string{`"field":"/roles"`, "must be an array"}},
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
		{name: "get deleted key", method: "GET", path: "/apigw/keys/k1", status: 404, code: "not_found"},
		{name: "delete key again", method: "DELETE", path: "/apigw/keys/k1", status: 404, code: "not_found"},
		{name: "delete unknown key", method: "DELETE", path: "/apigw/keys/nope", status: 404, code: "not_found"},
		{name: "delete config key", method: "DELETE", path: "/apigw/keys/cfg-admin", status: 204},
		{name: "get revoked config key", method: "GET", path: "/apigw/keys/cfg-admin", status: 200, contains: []string{`"revoked":true`}},
		{name: "key wrong method", method: "PUT", path: "/apigw/keys/k2", status: 405, code: "method_not_allowed", header: map[string]string{"Allow": "GET, PATCH, DELETE"}},
		{name: "key nested path", method: "DELETE", path: "/apigw/keys/k2/x", status: 404, code: "not_found"},
		{name: "revoke jti", method: "POST", path: "/apigw/revocations", body: `{"jti":"abc","exp":` + fmt.Sprint(farExp.Unix()) + `}`, status: 201,
			contains: []string{`"jti":"abc"`, `"exp":"` + farExp.Format(time.RFC3339) + `"`}, header: map[string]string{"Location": "/apigw/revocations/abc"}},
		{name: "revoke jti rfc3339", method: "POST", path: "/apigw/revocations", body: `{"jti":"d/f","exp":"` + farExp.Format(time.RFC3339) + `"}`, status: 201},
		{name: "revoke jti without exp", method: "POST", path: "/apigw/revocations", body: `{"jti":"ghi"}`, status: 201, contains: []string{`"exp":null`}},
		{name: "revoke past exp", method: "POST", path: "/apigw/revocations", body: `{"jti":"x","exp":1000}`, status: 400, code: "validation_failed", contains: []string{`"field":"/exp"`}},
		{name: "revoke bad exp", method: "POST", path: "/apigw/revocations", body: `{"jti":"x","exp":true}`, status: 400, code: "validation_failed"},
		{name: "revoke no jti", method: "POST", path: "/apigw/revocations", body: `{}`, status: 400, code: "validation_failed", contains: []string{`"field":"/jti"`}},
		{name: "revoke unknown field", method: "POST", path: "/apigw/revocations", body: `{"jti":"x","sub":"y"}`, status: 400, code: "validation_failed", contains: []string{`"field":"/sub"`}},
		{name: "list revocations", method: "GET", path: "/apigw/revocations", status: 200,
			contains: []string{`{"jti":"abc","exp":"` + farExp.Format(time.RFC3339) + `"}`, `"jti":"d/f"`, `{"jti":"ghi","exp":null}`}},
		{name: "undo revocation", method: "DELETE", path: "/apigw/revocations/d%2Ff", status: 204},
		{name: "undo revocation again", method: "DELETE", path: "/apigw/revocations/d%2Ff", status: 404, code: "not_found"},
		{name: "get revocation (the Location of its POST)", method: "GET", path: "/apigw/revocations/abc", status: 200, contains: []string{`"jti":"abc"`, `"exp":"` + farExp.Format(time.RFC3339) + `"`}},
		{name: "get unknown revocation", method: "GET", path: "/apigw/revocations/zzz", status: 404, code: "not_found"},
		{name: "revocation wrong method", method: "PUT", path: "/apigw/revocations/abc", status: 405, code: "method_not_allowed", header: map[string]string{"Allow": "GET, DELETE"}},
		{name: "revocations wrong method", method: "PUT", path: "/apigw/revocations", status: 405, code: "method_not_allowed", header: map[string]string{"Allow": "GET, POST"}},
		{name: "list sessions", method: "GET", path: "/apigw/sessions?user=alice", status: 200, contains: []string{`"id":"{s1}"`, `"id":"{s2}"`, `"last_seen":"`}, absent: []string{"{s3}"}},
		{name: "list sessions bad user", method: "GET", path: "/apigw/sessions?user=", status: 400, code: "validation_failed", contains: []string{"query/user"}},
		{name: "list all sessions", method: "GET", path: "/apigw/sessions", status: 200, contains: []string{`"id":"{s1}"`, `"id":"{s3}"`}},
		{name: "end session", method: "DELETE", path: "/apigw/sessions/{s1}", status: 204},
		{name: "end unknown session", method: "DELETE", path: "/apigw/sessions/{s1}", status: 404, code: "not_found"},
		{name: "end user sessions", method: "DELETE", path: "/apigw/sessions?user=alice", status: 204, header: map[string]string{"Apigw-Sessions-Ended": "1"}},
		{name: "end sessions no user", method: "DELETE", path: "/apigw/sessions", status: 400, code: "validation_failed"},
		{name: "sessions wrong method", method: "POST", path: "/apigw/sessions?user=a", status: 405, code: "method_not_allowed", header: map[string]string{"Allow": "GET, DELETE"}},
		{name: "session wrong method", method: "GET", path: "/apigw/sessions/{s3}", status: 405, code: "method_not_allowed"},
		{name: "unknown route", method: "GET", path: "/apigw/nothing", status: 404, code: "not_found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sub := func(s string) string {
				for k, v := range vars {
					s = strings.ReplaceAll(s, k, v)
				}
				return s
			}
			req, _ := http.NewRequest(tc.method, srv.URL+sub(tc.path), strings.NewReader(tc.body))
			if tc.body != "" {
				ct := tc.ctype
				if ct == "" {
					ct = "application/json"
				}
				req.Header.Set("Content-Type", ct)
			}
			if tc.ifMatch != "" {
				req.Header.Set("If-Match", sub(tc.ifMatch))
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body := readAll(t, resp)
			if resp.StatusCode != tc.status {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tc.status, body)
			}
			if tc.save != "" {
				if resp.Header.Get("ETag") == "" {
					t.Fatal("no ETag")
				}
				vars[tc.save] = resp.Header.Get("ETag")
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
			for _, want := range tc.contains {
				if !strings.Contains(body, sub(want)) {
					t.Errorf("body lacks %s: %s", sub(want), body)
				}
			}
			for _, bad := range tc.absent {
				if strings.Contains(body, sub(bad)) {
					t.Errorf("body has %s: %s", sub(bad), body)
				}
			}
			for k, v := range tc.header {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestAdminAPIStoreErrors(t *testing.T) {
	api, fs, _ := testAdmin(t, time.Now())
	srv := adminServer(t, api)
	for _, tc := range []struct {
		name   string
		err    error
		status int
		code   string
	}{
		{"store down", fmt.Errorf("reading: %w", failure.ErrUnavailable), 503, "service_unavailable"},
		{"other failure", fmt.Errorf("boom: secret-ish internal detail"), 500, "internal_error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs.setErr(tc.err)
			defer fs.setErr(nil)
			for _, path := range []string{"/apigw/keys", "/apigw/keys/k1", "/apigw/revocations"} {
				resp, err := http.Get(srv.URL + path)
				if err != nil {
					t.Fatal(err)
				}
				body := readAll(t, resp)
				if resp.StatusCode != tc.status || !strings.Contains(body, `"code":"`+tc.code+`"`) || strings.Contains(body, "secret-ish") {
					t.Fatalf("%s: status %d body %s", path, resp.StatusCode, body)
				}
			}
		})
	}
	t.Run("no app", func(t *testing.T) {
		if _, _, err := runningStore(); err == nil {
			t.Skip("a config is running in this process")
		}
		srv := adminServer(t, new(AdminAPI))
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
		if _, _, err := runningStore(); err == nil {
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
