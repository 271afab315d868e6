package caddymodule_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/apigw/caddy-apigw/internal/testutil"
)

// problemBody is the JSON of a problem response.
type problemBody struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail"`
	Code      string `json:"code"`
	RequestID string `json:"request_id"`
	Errors    []struct {
		Field, Rule, Message string
	} `json:"errors"`
}

type result struct {
	status int
	header http.Header
	body   []byte
}

func (r result) problem(t *testing.T) problemBody {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json; body %s", ct, r.body)
	}
	var p problemBody
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("problem JSON: %v: %s", err, r.body)
	}
	return p
}

func send(t *testing.T, method, url string, hdr map[string]string, body string) result {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return result{status: resp.StatusCode, header: resp.Header, body: b}
}

// helmetExpected are the headers every gateway response over plain HTTP
// must carry (helmet 8's defaults without HSTS).
var helmetExpected = map[string]string{
	"Content-Security-Policy":           "default-src 'self';base-uri 'self';font-src 'self' https: data:;form-action 'self';frame-ancestors 'self';img-src 'self' data:;object-src 'none';script-src 'self';script-src-attr 'none';style-src 'self' https: 'unsafe-inline';upgrade-insecure-requests",
	"Cross-Origin-Opener-Policy":        "same-origin",
	"Cross-Origin-Resource-Policy":      "same-origin",
	"Origin-Agent-Cluster":              "?1",
	"Referrer-Policy":                   "no-referrer",
	"X-Content-Type-Options":            "nosniff",
	"X-Dns-Prefetch-Control":            "off",
	"X-Download-Options":                "noopen",
	"X-Frame-Options":                   "SAMEORIGIN",
	"X-Permitted-Cross-Domain-Policies": "none",
	"X-Xss-Protection":                  "0",
}

// checkCommon asserts what every gateway response carries: the security
// headers (once each), a request id, and no Server/X-Powered-By/Via.
func checkCommon(t *testing.T, r result) {
	t.Helper()
	for k, v := range helmetExpected {
		if got := r.header.Values(k); len(got) != 1 || got[0] != v {
			t.Errorf("header %s = %q, want exactly %q", k, got, v)
		}
	}
	if r.header.Get("Strict-Transport-Security") != "" {
		t.Errorf("HSTS sent over plain HTTP")
	}
	for _, k := range []string{"Server", "X-Powered-By", "Via"} {
		if v := r.header.Get(k); v != "" {
			t.Errorf("header %s leaked: %q", k, v)
		}
	}
	if _, err := uuid.Parse(r.header.Get("X-Request-ID")); err != nil {
		t.Errorf("X-Request-ID %q is not a UUID", r.header.Get("X-Request-ID"))
	}
}

// waitLog polls the process log (copied from a pipe, so it lags the
// response a little) until pred holds for the entries of logger, and
// returns those entries.
func waitLog(t *testing.T, c *testutil.Caddy, logger string, pred func([]map[string]any) bool) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		entries := logEntries(t, c.Log.String(), logger)
		if pred(entries) || time.Now().After(deadline) {
			return entries
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// withID returns the entries whose request_id is id.
func withID(entries []map[string]any, id string) []map[string]any {
	var out []map[string]any
	for _, e := range entries {
		if e["request_id"] == id {
			out = append(out, e)
		}
	}
	return out
}

// logEntries returns the JSON log lines of c whose logger is name.
func logEntries(t *testing.T, log, logger string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			continue
		}
		if m["logger"] == logger {
			out = append(out, m)
		}
	}
	return out
}

func TestDemoValidation(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	c := testutil.StartCaddy(t, testutil.Options{Config: demoConfig(t)})
	users := c.URL("/users")
	jsonCT := map[string]string{"Content-Type": "application/json"}
	valid := `{"email":"ada@example.com","name":"Ada","age":36}`

	t.Run("POST valid body reaches the upstream byte-identical", func(t *testing.T) {
		body := "{ \"name\" : \"Ada\",\n \"email\":\"ada@example.com\" }"
		r := send(t, "POST", users, jsonCT, body)
		if r.status != 200 || string(r.body) != body {
			t.Fatalf("got %d %q, want 200 and the body echoed", r.status, r.body)
		}
		checkCommon(t, r)
	})

	type fieldRule struct{ field, rule string }
	for _, tc := range []struct {
		name   string
		ct     string
		body   string
		status int
		code   string
		want   []fieldRule
	}{
		{"missing fields", "application/json", `{}`, 400, "validation_failed", []fieldRule{{"/email", "required"}, {"/name", "required"}}},
		{"bad email", "application/json", `{"email":"<img src=x onerror=alert(1)>","name":"A"}`, 400, "validation_failed", []fieldRule{{"/email", "format"}}},
		{"age out of range", "application/json", `{"email":"a@example.com","name":"A","age":200}`, 400, "validation_failed", []fieldRule{{"/age", "maximum"}}},
		{"age not integer", "application/json", `{"email":"a@example.com","name":"A","age":"x"}`, 400, "validation_failed", []fieldRule{{"/age", "type"}}},
		{"name too long", "application/json", `{"email":"a@example.com","name":"` + strings.Repeat("n", 101) + `"}`, 400, "validation_failed", []fieldRule{{"/name", "maxLength"}}},
		{"unknown key", "application/json", `{"email":"a@example.com","name":"A","role":"admin"}`, 400, "validation_failed", []fieldRule{{"/role", "additionalProperties"}}},
		{"$where", "application/json", `{"email":"a@example.com","name":"A","$where":"sleep(1000)"}`, 400, "validation_failed", []fieldRule{{"/$where", "dollarKey"}}},
		{"nested operator", "application/json", `{"email":{"$ne":null},"name":"A"}`, 400, "validation_failed", []fieldRule{{"/email/$ne", "dollarKey"}}},
		{"NUL byte", "application/json", `{"email":"a@example.com","name":"A\u0000"}`, 400, "validation_failed", []fieldRule{{"/name", "controlChars"}}},
		{"duplicate keys", "application/json", `{"email":"a@example.com","name":"A","name":"B"}`, 400, "validation_failed", []fieldRule{{"/name", "duplicateKey"}}},
		{"depth bomb", "application/json", strings.Repeat(`{"a":`, 50000) + `1` + strings.Repeat(`}`, 50000), 400, "validation_failed", []fieldRule{{"", "maxDepth"}}},
		{"malformed", "application/json", `{"email":`, 400, "validation_failed", []fieldRule{{"/email", "syntax"}}},
		{"not JSON", "text/plain", valid, 415, "unsupported_media_type", nil},
		{"form", "application/x-www-form-urlencoded", "email=a@example.com&name=A", 415, "unsupported_media_type", nil},
		{"too large", "application/json", `{"email":"a@example.com","name":"` + strings.Repeat("x", 1<<20) + `"}`, 413, "payload_too_large", nil},
	} {
		t.Run("POST "+tc.name, func(t *testing.T) {
			r := send(t, "POST", users, map[string]string{"Content-Type": tc.ct}, tc.body)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			checkCommon(t, r)
			p := r.problem(t)
			if p.Code != tc.code || p.Status != tc.status || p.RequestID != r.header.Get("X-Request-ID") {
				t.Fatalf("problem %+v", p)
			}
			if tc.name == "depth bomb" {
				if len(p.Errors) != 1 || p.Errors[0].Rule != "maxDepth" {
					t.Fatalf("errors %+v", p.Errors)
				}
				return
			}
			if len(p.Errors) != len(tc.want) {
				t.Fatalf("errors %+v, want %v", p.Errors, tc.want)
			}
			for i, w := range tc.want {
				if p.Errors[i].Field != w.field || p.Errors[i].Rule != w.rule {
					t.Fatalf("error %d = %+v, want %v", i, p.Errors[i], w)
				}
			}
			for _, s := range []string{"onerror", "sleep", "admin"} {
				if strings.Contains(string(r.body), s) {
					t.Fatalf("problem echoes input %q: %s", s, r.body)
				}
			}
		})
	}

	t.Run("GET query defaults reach the upstream", func(t *testing.T) {
		for _, tc := range []struct{ query, wantURI string }{
			{"", "/users?limit=20&page=1&sort=desc"},
			{"?page=2", "/users?page=2&limit=20&sort=desc"},
			{"?page=3&limit=100&sort=asc", "/users?page=3&limit=100&sort=asc"},
		} {
			r := send(t, "GET", users+tc.query, nil, "")
			if r.status != 200 {
				t.Fatalf("%s: status %d: %s", tc.query, r.status, r.body)
			}
			var up struct{ URI string }
			if err := json.Unmarshal(r.body, &up); err != nil || up.URI != tc.wantURI {
				t.Fatalf("%s: upstream saw %q (%v), want %q", tc.query, up.URI, err, tc.wantURI)
			}
			checkCommon(t, r)
		}
	})

	for _, tc := range []struct{ query, field, rule string }{
		{"?page=0", "query/page", "minimum"},
		{"?page=abc", "query/page", "type"},
		{"?limit=101", "query/limit", "maximum"},
		{"?limit=0", "query/limit", "minimum"},
		{"?sort=up", "query/sort", "enum"},
		{"?debug=1", "query/debug", "additionalProperties"},
		{"?page=1&page=2", "query/page", "duplicate"},
		{"?page[$gt]=1", "query/page[$gt]", "dollarKey"},
	} {
		t.Run("GET "+tc.query, func(t *testing.T) {
			r := send(t, "GET", users+tc.query, nil, "")
			if r.status != 400 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			checkCommon(t, r)
			p := r.problem(t)
			if p.Code != "validation_failed" || len(p.Errors) != 1 || p.Errors[0].Field != tc.field || p.Errors[0].Rule != tc.rule {
				t.Fatalf("problem %+v", p)
			}
		})
	}

	t.Run("boom is scrubbed, the trace only in the log", func(t *testing.T) {
		r := send(t, "GET", c.URL("/boom"), nil, "")
		if r.status != 500 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		checkCommon(t, r)
		p := r.problem(t)
		if p.Code != "upstream_error" || p.RequestID != r.header.Get("X-Request-ID") {
			t.Fatalf("problem %+v", p)
		}
		for _, leak := range []string{"ECONNREFUSED", "node_modules", "SELECT", "sk_live", "hunter2", "Express", "demo-upstream"} {
			if strings.Contains(string(r.body), leak) || strings.Contains(fmt.Sprint(r.header), leak) {
				t.Fatalf("response leaks %q: %v %s", leak, r.header, r.body)
			}
		}
		scrubbed := withID(waitLog(t, c, "http.handlers.apigw_errors", func(es []map[string]any) bool {
			return len(withID(es, p.RequestID)) > 0
		}), p.RequestID)
		if len(scrubbed) != 1 || scrubbed[0]["level"] != "error" {
			t.Fatalf("want one error log entry for %s, got %v", p.RequestID, scrubbed)
		}
		body, _ := scrubbed[0]["upstream_body"].(string)
		if !strings.Contains(body, "ECONNREFUSED 10.0.3.7:5432") || !strings.Contains(body, "users.js:88") {
			t.Fatalf("log lacks the upstream trace: %q", body)
		}
		for _, secret := range []string{"sk_live_51H8xYz", "hunter2"} {
			if strings.Contains(c.Log.String(), secret) {
				t.Fatalf("log holds secret %q", secret)
			}
		}
		audits := withID(waitLog(t, c, "apigw.audit", func(es []map[string]any) bool {
			return len(withID(es, p.RequestID)) > 0
		}), p.RequestID)
		if len(audits) != 1 || audits[0]["event"] != "upstream_scrubbed" || audits[0]["code"] != "upstream_error" {
			t.Fatalf("audit entries for the scrubbed error: %v, want one upstream_scrubbed", audits)
		}
	})

	t.Run("validation rejects are audited once", func(t *testing.T) {
		r := send(t, "POST", users, jsonCT, `{"$where":"1"}`)
		id := r.header.Get("X-Request-ID")
		es := withID(waitLog(t, c, "apigw.audit", func(es []map[string]any) bool {
			return len(withID(es, id)) > 0
		}), id)
		if len(es) != 1 || es[0]["event"] != "validation_rejected" || es[0]["code"] != "validation_failed" || es[0]["route"] != "/users" {
			t.Fatalf("audit entries %v, want one validation_rejected", es)
		}
	})

	t.Run("CORS on the demo", func(t *testing.T) {
		pre := map[string]string{"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
		r := send(t, "OPTIONS", users, pre, "")
		if r.status != 204 || r.header.Get("Access-Control-Allow-Origin") != "http://localhost:3000" ||
			r.header.Get("Access-Control-Allow-Credentials") != "true" || r.header.Get("Server") != "" || r.header.Get("X-Request-ID") == "" {
			t.Fatalf("preflight: %d %v", r.status, r.header)
		}
		pre["Origin"] = "http://localhost:3001"
		r = send(t, "OPTIONS", users, pre, "")
		if r.status != 204 || r.header.Get("Access-Control-Allow-Origin") != "" || r.header.Get("Access-Control-Allow-Credentials") != "" {
			t.Fatalf("foreign preflight granted: %d %v", r.status, r.header)
		}
		r = send(t, "POST", users, map[string]string{"Origin": "http://localhost:3000", "Content-Type": "application/json"}, `{}`)
		if r.status != 400 || r.header.Get("Access-Control-Allow-Origin") != "http://localhost:3000" ||
			!strings.Contains(r.header.Get("Access-Control-Expose-Headers"), "X-Request-ID") || !strings.Contains(r.header.Get("Vary"), "Origin") {
			t.Fatalf("problem not readable cross-origin: %d %v", r.status, r.header)
		}
		checkCommon(t, r)
	})

	t.Run("request id is the same in header, problem, upstream and log", func(t *testing.T) {
		r := send(t, "GET", c.URL("/open/echo"), map[string]string{"X-Request-ID": "client-chosen-id"}, "")
		checkCommon(t, r)
		id := r.header.Get("X-Request-ID")
		if id == "client-chosen-id" {
			t.Fatal("an untrusted client request id was kept")
		}
		var up struct {
			Headers map[string]string `json:"headers"`
		}
		if err := json.Unmarshal(r.body, &up); err != nil || up.Headers["x-request-id"] != id {
			t.Fatalf("upstream saw %q, response header %q (%v)", up.Headers["x-request-id"], id, err)
		}
		r = send(t, "GET", c.URL("/nope"), nil, "")
		if r.status != 404 {
			t.Fatalf("status %d", r.status)
		}
		checkCommon(t, r)
		if p := r.problem(t); p.Code != "not_found" || p.RequestID != r.header.Get("X-Request-ID") {
			t.Fatalf("problem %+v", p)
		}
	})
}

// TestCaddyRaisedErrorsScrubbed checks errors Caddy raises itself (no
// upstream reachable, request_body limit) leave as problem JSON with the
// security headers, and that a site's own handle_errors for a status
// wins over the default renderer.
func TestCaddyRaisedErrorsScrubbed(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	dead := testutil.FreePort(t)
	cfg := filepath.Join(t.TempDir(), "Caddyfile")
	err := os.WriteFile(cfg, []byte(fmt.Sprintf(`{
	admin {$APIGW_ADMIN}
	auto_https off
}
http://127.0.0.1:{$APIGW_HTTP_PORT} {
	apigw_request_id
	apigw_security_headers
	apigw_errors
	log
	handle_errors 418 {
		respond "custom teapot page" 418
	}
	handle /down {
		reverse_proxy 127.0.0.1:%d
	}
	handle /small {
		request_body {
			max_size 10
		}
		reverse_proxy 127.0.0.1:%d
	}
	handle /teapot {
		error 418
	}
	handle /panic-free {
		error "secret internal detail: db password=hunter2" 500
	}
}
`, dead, dead)), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	c := testutil.StartCaddy(t, testutil.Options{Config: cfg})
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"upstream down", "GET", "/down", "", 502, "upstream_error"},
		{"body over request_body limit", "POST", "/small", strings.Repeat("x", 100), 413, "payload_too_large"},
		{"error directive with secret text", "GET", "/panic-free", "", 500, "internal_error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := send(t, tc.method, c.URL(tc.path), map[string]string{"Content-Type": "text/plain"}, tc.body)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			checkCommon(t, r)
			p := r.problem(t)
			if p.Code != tc.code || p.RequestID != r.header.Get("X-Request-ID") {
				t.Fatalf("problem %+v", p)
			}
			for _, leak := range []string{"dial", "127.0.0.1", "hunter2", "secret"} {
				if strings.Contains(string(r.body), leak) {
					t.Fatalf("problem leaks %q: %s", leak, r.body)
				}
			}
			if tc.status < 500 {
				return
			}
			// The operator sees why, once, at ERROR, with the id and
			// without the secret; one audit entry.
			id := p.RequestID
			logged := withID(waitLog(t, c, "http.handlers.apigw_errors", func(es []map[string]any) bool {
				return len(withID(es, id)) > 0
			}), id)
			if len(logged) != 1 || logged[0]["level"] != "error" || strings.Contains(fmt.Sprint(logged[0]), "hunter2") {
				t.Fatalf("error log entries %v", logged)
			}
			if tc.path == "/down" && !strings.Contains(fmt.Sprint(logged[0]["error"]), "connect") {
				t.Fatalf("log does not say why: %v", logged[0])
			}
			audits := withID(waitLog(t, c, "apigw.audit", func(es []map[string]any) bool {
				return len(withID(es, id)) > 0
			}), id)
			if len(audits) != 1 || audits[0]["event"] != "error_scrubbed" {
				t.Fatalf("audit entries %v", audits)
			}
			if strings.Contains(c.Log.String(), "hunter2") {
				t.Fatal("a secret from an error message reached the log")
			}
		})
	}
	t.Run("access and error logs carry the request id", func(t *testing.T) {
		r := send(t, "GET", c.URL("/down"), nil, "")
		id := r.header.Get("X-Request-ID")
		access := withID(waitLog(t, c, "http.log.access", func(es []map[string]any) bool {
			return len(withID(es, id)) > 0
		}), id)
		if len(access) != 1 {
			t.Fatalf("access log entries with request_id %s: %v", id, access)
		}
	})
	t.Run("own handle_errors for a status wins", func(t *testing.T) {
		r := send(t, "GET", c.URL("/teapot"), nil, "")
		if r.status != 418 || string(r.body) != "custom teapot page" {
			t.Fatalf("got %d %q", r.status, r.body)
		}
		checkCommon(t, r)
	})
}

// demoConfig returns the path of the demo Caddyfile to run. On a branch
// where some demo directives are not built in yet, it writes a copy of
// Caddyfile.example without the top-level handle blocks that use them
// (found by `caddy adapt`), so this feature's rows of the contract run
// on the real demo file everywhere else.
func demoConfig(t *testing.T) string {
	t.Helper()
	src := filepath.Join(testutil.RepoRoot(), "Caddyfile.example")
	text, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(text), "\n")
	path := src
	for i := 0; i < 20; i++ {
		cmd := exec.Command(testutil.CaddyBinary(t), "adapt", "--config", path, "--adapter", "caddyfile")
		out, err := cmd.CombinedOutput()
		if err == nil {
			return path
		}
		m := regexp.MustCompile(`unrecognized directive: (\S+)`).FindSubmatch(out)
		if m == nil {
			t.Fatalf("caddy adapt %s: %v\n%s", path, err, out)
		}
		lines = dropHandleBlocksUsing(lines, string(m[1]))
		path = filepath.Join(t.TempDir(), "Caddyfile")
		if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("could not reduce Caddyfile.example to known directives")
	return ""
}

// dropHandleBlocksUsing removes one-tab-indented handle blocks whose body
// mentions directive.
func dropHandleBlocksUsing(lines []string, directive string) []string {
	var out []string
	for i := 0; i < len(lines); i++ {
		if strings.HasPrefix(lines[i], "\thandle") && strings.HasSuffix(lines[i], "{") {
			j := i + 1
			for j < len(lines) && lines[j] != "\t}" {
				j++
			}
			block := strings.Join(lines[i:j+1], "\n")
			if regexp.MustCompile(`(?m)^\s+` + regexp.QuoteMeta(directive) + `\b`).MatchString(block) {
				i = j
				continue
			}
		}
		out = append(out, lines[i])
	}
	return out
}

// TestValidateOpenAPIThroughCaddy runs apigw_validate with an OpenAPI
// document in a real Caddy: the operation is found by path and method,
// parameters and body are checked, and a valid body reaches the
// upstream unchanged.
func TestValidateOpenAPIThroughCaddy(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	dir := t.TempDir()
	spec := filepath.Join(dir, "pets.yaml")
	if err := os.WriteFile(spec, []byte(`openapi: 3.0.3
info: {title: pets, version: "1"}
paths:
  /pets/{id}:
    parameters:
      - {name: id, in: path, required: true, schema: {type: integer, minimum: 1}}
    put:
      parameters:
        - {name: dry_run, in: query, schema: {type: boolean}}
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [name]
              additionalProperties: false
              properties:
                name: {type: string, maxLength: 20}
                tag: {type: string, default: none}
      responses: {"200": {description: ok}}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(cfg, []byte(`{
	admin {$APIGW_ADMIN}
	auto_https off
}
http://127.0.0.1:{$APIGW_HTTP_PORT} {
	apigw_request_id
	apigw_errors
	handle /pets/* {
		apigw_validate {
			openapi `+spec+`
		}
		respond "{http.request.body}" 200
	}
}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	c := testutil.StartCaddy(t, testutil.Options{Config: cfg})
	jsonCT := map[string]string{"Content-Type": "application/json"}
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		code, field, rule        string
	}{
		{"valid", "PUT", "/pets/7?dry_run=true", `{"name":"Rex"}`, 200, "", "", ""},
		{"bad path param", "PUT", "/pets/0", `{"name":"Rex"}`, 400, "validation_failed", "path/id", "minimum"},
		{"bad query param", "PUT", "/pets/7?dry_run=maybe", `{"name":"Rex"}`, 400, "validation_failed", "query/dry_run", "type"},
		{"unknown field", "PUT", "/pets/7", `{"name":"Rex","owner":"x"}`, 400, "validation_failed", "/owner", "additionalProperties"},
		{"missing field", "PUT", "/pets/7", `{"tag":"x"}`, 400, "validation_failed", "/name", "required"},
		{"undeclared method", "DELETE", "/pets/7", "", 405, "method_not_allowed", "", ""},
		{"undeclared path", "PUT", "/pets/7/photos", `{}`, 404, "not_found", "", ""},
		{"operator key", "PUT", "/pets/7", `{"name":{"$gt":""}}`, 400, "validation_failed", "/name/$gt", "dollarKey"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := send(t, tc.method, c.URL(tc.path), jsonCT, tc.body)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if tc.status == 200 {
				if string(r.body) != tc.body {
					t.Fatalf("upstream got %q, want the body unchanged (no defaults added)", r.body)
				}
				return
			}
			p := r.problem(t)
			if p.Code != tc.code {
				t.Fatalf("problem %+v", p)
			}
			if tc.field != "" && (len(p.Errors) == 0 || p.Errors[0].Field != tc.field || p.Errors[0].Rule != tc.rule) {
				t.Fatalf("errors %+v, want %s %s", p.Errors, tc.field, tc.rule)
			}
		})
	}
}
