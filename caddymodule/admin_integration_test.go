package caddymodule_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/apigw/caddy-apigw/internal/testutil"
)

// The admin API v2 through the real binary: two instances of the demo on
// one real redis-server, every row of DESIGN.md's admin table and its bad
// input, and the changes of one instance seen by the other at once.

// adminRaw sends a raw body with a content type and extra headers.
func adminRaw(t *testing.T, method, url, ctype, body string, hdr ...string) soResult {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := soClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
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
	return soResult{status: resp.StatusCode, header: resp.Header, body: b.String()}
}

func TestAdminV2Binary(t *testing.T) {
	soRequireDemo(t)
	p := soStartPair(t, "")
	both := map[string]*testutil.Caddy{"A": p.a, "B": p.b}

	// POST with every optional member → 201, Location answers GET on B
	r := soDo(t, "POST", p.a.AdminURL("/apigw/keys"), map[string]any{
		"user": "alice", "id": "alice-1", "scopes": []string{"read"}, "roles": []string{"ops"},
		"metadata": map[string]string{"tier": "gold"}, "allow_cidr": []string{"127.0.0.0/8"}, "expires": "1h",
	})
	soExpect(t, "POST /apigw/keys", r, 201, "")
	var created struct{ ID, Key string }
	_ = json.Unmarshal([]byte(r.body), &created)
	if created.ID != "alice-1" || !strings.HasPrefix(created.Key, "apigw_") || r.header.Get("Location") != "/apigw/keys/alice-1" {
		t.Fatalf("create: %s, Location %q", r.body, r.header.Get("Location"))
	}
	got := soDo(t, "GET", p.b.AdminURL(r.header.Get("Location")), nil)
	soExpect(t, "GET Location on B", got, 200, "")
	etag := got.header.Get("ETag")
	for _, want := range []string{`"user":"alice"`, `"roles":["ops"]`, `"metadata":{"tier":"gold"}`, `"allow_cidr":["127.0.0.0/8"]`, `"source":"runtime"`} {
		if !strings.Contains(got.body, want) {
			t.Errorf("GET lacks %s: %s", want, got.body)
		}
	}
	if !strings.HasPrefix(etag, `"`) || strings.Contains(got.body, created.Key) {
		t.Fatalf("ETag %q, body %s", etag, got.body)
	}
	for name, inst := range both {
		soExpect(t, "new key on "+name, soDo(t, "GET", inst.URL("/key/x"), nil, "X-API-Key", created.Key), 200, "")
	}

	// list: config key and runtime key, page and filter
	list := soDo(t, "GET", p.b.AdminURL("/apigw/keys?size=1"), nil)
	soExpect(t, "list size=1", list, 200, "")
	var page struct {
		Data []map[string]any `json:"data"`
		Next string           `json:"next"`
	}
	if err := json.Unmarshal([]byte(list.body), &page); err != nil || len(page.Data) != 1 || page.Next == "" || page.Data[0]["id"] != "alice-1" {
		t.Fatalf("first page: %s", list.body)
	}
	list = soDo(t, "GET", p.a.AdminURL("/apigw/keys?size=1&after="+page.Next), nil)
	if err := json.Unmarshal([]byte(list.body), &page); err != nil || len(page.Data) != 1 || page.Data[0]["id"] != "demo" || page.Data[0]["source"] != "config" {
		t.Fatalf("second page: %s", list.body)
	}
	list = soDo(t, "GET", p.a.AdminURL("/apigw/keys?user=demo-user"), nil)
	if !strings.Contains(list.body, `"id":"demo"`) || strings.Contains(list.body, "alice") {
		t.Fatalf("user filter: %s", list.body)
	}

	// PATCH on B with a stale ETag → 412; with the right one → applies on A at once
	soExpect(t, "PATCH stale If-Match", adminRaw(t, "PATCH", p.b.AdminURL("/apigw/keys/alice-1"), "application/merge-patch+json",
		`{"allow_cidr":["10.0.0.0/8"]}`, "If-Match", `"stale"`), 412, "precondition_failed")
	pr := adminRaw(t, "PATCH", p.b.AdminURL("/apigw/keys/alice-1"), "application/merge-patch+json", `{"allow_cidr":["10.0.0.0/8"],"metadata":{"tier":"silver"}}`, "If-Match", etag)
	soExpect(t, "PATCH", pr, 200, "")
	if pr.header.Get("ETag") == etag || !strings.Contains(pr.body, `"tier":"silver"`) {
		t.Fatalf("PATCH answer %s, ETag %q", pr.body, pr.header.Get("ETag"))
	}
	for name, inst := range both {
		soExpect(t, "key outside its CIDR on "+name, soDo(t, "GET", inst.URL("/key/x"), nil, "X-API-Key", created.Key), 401, "invalid_api_key")
	}
	soExpect(t, "PATCH with curl's form type", adminRaw(t, "PATCH", p.a.AdminURL("/apigw/keys/alice-1"), "application/x-www-form-urlencoded", `{"allow_cidr":null}`), 200, "")
	for name, inst := range both {
		soExpect(t, "key back in its CIDR on "+name, soDo(t, "GET", inst.URL("/key/x"), nil, "X-API-Key", created.Key), 200, "")
	}

	// rotate with grace on A: both secrets work on both instances; a second
	// rotation without grace ends both at once
	rr := adminRaw(t, "POST", p.a.AdminURL("/apigw/keys/alice-1/rotate"), "application/json", `{"grace":"1h"}`)
	soExpect(t, "rotate with grace", rr, 201, "")
	var rotated struct{ ID, Key string }
	_ = json.Unmarshal([]byte(rr.body), &rotated)
	if rotated.ID != "alice-1" || rotated.Key == created.Key || rr.header.Get("Location") != "/apigw/keys/alice-1" {
		t.Fatalf("rotate answer %s", rr.body)
	}
	for name, inst := range both {
		soExpect(t, "old secret in grace on "+name, soDo(t, "GET", inst.URL("/key/x"), nil, "X-API-Key", created.Key), 200, "")
		soExpect(t, "new secret on "+name, soDo(t, "GET", inst.URL("/key/x"), nil, "X-API-Key", rotated.Key), 200, "")
	}
	rr = adminRaw(t, "POST", p.b.AdminURL("/apigw/keys/alice-1/rotate"), "", ``)
	soExpect(t, "rotate without grace", rr, 201, "")
	var third struct{ Key string }
	_ = json.Unmarshal([]byte(rr.body), &third)
	for name, inst := range both {
		soExpect(t, "first secret after second rotation on "+name, soDo(t, "GET", inst.URL("/key/x"), nil, "X-API-Key", created.Key), 401, "invalid_api_key")
		soExpect(t, "second secret after rotation without grace on "+name, soDo(t, "GET", inst.URL("/key/x"), nil, "X-API-Key", rotated.Key), 401, "invalid_api_key")
		soExpect(t, "third secret on "+name, soDo(t, "GET", inst.URL("/key/x"), nil, "X-API-Key", third.Key), 200, "")
	}

	// config keys: listed, PATCH and rotate refused (change the Caddyfile)
	soExpect(t, "PATCH config key", adminRaw(t, "PATCH", p.a.AdminURL("/apigw/keys/demo"), "application/json", `{"scopes":["admin"]}`), 409, "conflict")
	soExpect(t, "rotate config key", adminRaw(t, "POST", p.a.AdminURL("/apigw/keys/demo/rotate"), "", ``), 409, "conflict")

	// bad input through the real admin endpoint
	for _, tc := range []struct {
		name, method, path, ctype, body string
		status                          int
		code, field                     string
	}{
		{"malformed body", "POST", "/apigw/keys", "application/json", `{"user":`, 400, "bad_request", ""},
		{"unknown field", "POST", "/apigw/keys", "application/json", `{"user":"a","secret":"x"}`, 400, "validation_failed", "/secret"},
		{"wrong type", "POST", "/apigw/keys", "application/json", `{"user":"a","scopes":"read"}`, 400, "validation_failed", "/scopes"},
		{"patch unknown field", "PATCH", "/apigw/keys/alice-1", "application/merge-patch+json", `{"tier":"x"}`, 400, "validation_failed", "/tier"},
		{"patch read-only field", "PATCH", "/apigw/keys/alice-1", "application/merge-patch+json", `{"user":"x"}`, 400, "validation_failed", "/user"},
		{"patch wrong type", "PATCH", "/apigw/keys/alice-1", "application/merge-patch+json", `{"expires":true}`, 400, "validation_failed", "/expires"},
		{"unknown id GET", "GET", "/apigw/keys/nobody", "", ``, 404, "not_found", ""},
		{"unknown id PATCH", "PATCH", "/apigw/keys/nobody", "application/json", `{}`, 404, "not_found", ""},
		{"unknown id rotate", "POST", "/apigw/keys/nobody/rotate", "", ``, 404, "not_found", ""},
		{"unknown id DELETE", "DELETE", "/apigw/keys/nobody", "", ``, 404, "not_found", ""},
		{"bad page size", "GET", "/apigw/keys?size=100000", "", ``, 400, "validation_failed", "query/size"},
		{"bad cursor", "GET", "/apigw/keys?after=***", "", ``, 400, "validation_failed", "query/after"},
		{"bad grace", "POST", "/apigw/keys/alice-1/rotate", "application/json", `{"grace":"forever"}`, 400, "validation_failed", "/grace"},
		{"xml", "POST", "/apigw/revocations", "application/xml", `<jti/>`, 415, "unsupported_media_type", ""},
		{"revocation wrong type", "POST", "/apigw/revocations", "application/json", `{"jti":7}`, 400, "validation_failed", "/jti"},
		{"unknown revocation", "DELETE", "/apigw/revocations/never", "", ``, 404, "not_found", ""},
		{"wrong method keys", "PUT", "/apigw/keys", "", ``, 405, "method_not_allowed", ""},
		{"wrong method key", "POST", "/apigw/keys/alice-1", "", ``, 405, "method_not_allowed", ""},
		{"wrong method revocations", "PATCH", "/apigw/revocations", "", ``, 405, "method_not_allowed", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := adminRaw(t, tc.method, p.a.AdminURL(tc.path), tc.ctype, tc.body)
			soExpect(t, tc.name, r, tc.status, tc.code)
			if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("content type %q", ct)
			}
			if tc.field != "" && !strings.Contains(r.body, `"field":"`+tc.field+`"`) {
				t.Fatalf("problem does not name %s: %s", tc.field, r.body)
			}
			if tc.status == 405 && r.header.Get("Allow") == "" {
				t.Fatal("405 without Allow")
			}
		})
	}

	// DELETE on B: refused on both at once
	soExpect(t, "DELETE", soDo(t, "DELETE", p.b.AdminURL("/apigw/keys/alice-1"), nil), 204, "")
	for name, inst := range both {
		soExpect(t, "deleted key on "+name, soDo(t, "GET", inst.URL("/key/x"), nil, "X-API-Key", third.Key), 401, "invalid_api_key")
	}
}

func TestAdminV2RevocationsBinary(t *testing.T) {
	soRequireDemo(t)
	p := soStartPair(t, "")
	jti := fmt.Sprintf("jti-%d", time.Now().UnixNano())
	exp := time.Now().Add(10 * time.Minute).Unix()
	tok := soHs256(map[string]any{"sub": "bob", "jti": jti, "exp": exp})
	r := soDo(t, "POST", p.a.AdminURL("/apigw/revocations"), map[string]any{"jti": jti, "exp": exp})
	soExpect(t, "revoke on A", r, 201, "")
	soExpect(t, "GET Location on B", soDo(t, "GET", p.b.AdminURL(r.header.Get("Location")), nil), 200, "")
	list := soDo(t, "GET", p.b.AdminURL("/apigw/revocations"), nil)
	soExpect(t, "list on B", list, 200, "")
	want := fmt.Sprintf(`{"jti":%q,"exp":%q}`, jti, time.Unix(exp, 0).UTC().Format(time.RFC3339))
	if !strings.Contains(list.body, want) {
		t.Fatalf("listing lacks %s: %s", want, list.body)
	}
	soExpect(t, "revoked token on B", soDo(t, "GET", p.b.URL("/jwt/x"), nil, "Authorization", "Bearer "+tok), 401, "token_revoked")
	soExpect(t, "undo on B", soDo(t, "DELETE", p.b.AdminURL("/apigw/revocations/"+jti), nil), 204, "")
	for name, inst := range map[string]*testutil.Caddy{"A": p.a, "B": p.b} {
		soExpect(t, "token after undo on "+name, soDo(t, "GET", inst.URL("/jwt/x"), nil, "Authorization", "Bearer "+tok), 200, "")
	}
	soExpect(t, "undo again on A", soDo(t, "DELETE", p.a.AdminURL("/apigw/revocations/"+jti), nil), 404, "not_found")
}
