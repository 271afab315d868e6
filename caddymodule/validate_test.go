package caddymodule

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/apigw/caddy-apigw/problem"
	"github.com/apigw/caddy-apigw/validation"
)

func TestValidateCaddyfile(t *testing.T) {
	for _, tc := range []struct {
		name, input string
		check       func(*Validate) bool
		wantErr     string
	}{
		{name: "demo", input: "apigw_validate {\n max_body 1MiB\n content_type application/json\n strict\n body_schema `{\"type\":\"object\"}`\n}",
			check: func(v *Validate) bool {
				return v.MaxBody == 1<<20 && v.Strict && v.ContentTypes[0] == "application/json" && string(v.BodySchema) == `{"type":"object"}`
			}},
		{name: "switches", input: "apigw_validate {\n reject_dollar_keys off\n reject_dotted_keys\n reject_control_chars off\n query_defaults off\n max_depth 8\n max_keys 50\n}",
			check: func(v *Validate) bool {
				return !*v.RejectDollarKeys && v.RejectDottedKeys && !*v.RejectControlChars && !*v.QueryDefaults && v.MaxDepth == 8 && v.MaxKeys == 50
			}},
		{name: "bad size", input: "apigw_validate {\n max_body lots\n}", wantErr: "max_body"},
		{name: "bad media type", input: "apigw_validate {\n content_type json\n}", wantErr: "not a media type"},
		{name: "schema not JSON", input: "apigw_validate {\n body_schema `{type: object}`\n}", wantErr: "not valid JSON"},
		{name: "unknown format", input: "apigw_validate {\n body_schema `{\"properties\":{\"e\":{\"format\":\"emial\"}}}`\n}", wantErr: `unknown format "emial"`},
		{name: "invalid schema", input: "apigw_validate {\n body_schema `{\"type\":\"objekt\"}`\n}", wantErr: "apigw_validate body_schema is not a valid JSON Schema"},
		{name: "query schema not object", input: "apigw_validate {\n query_schema `{\"type\":\"array\"}`\n}", wantErr: `must have "type": "object"`},
		{name: "bad query default", input: "apigw_validate {\n query_schema `{\"properties\":{\"a\":{\"default\":{\"x\":1}}}}`\n}", wantErr: "default"},
		{name: "inline and file", input: "apigw_validate {\n body_schema `{}`\n body_schema_file /x.json\n}", wantErr: "use one"},
		{name: "unknown option", input: "apigw_validate {\n max_size 1MB\n}", wantErr: "unknown option"},
		{name: "bad switch", input: "apigw_validate {\n reject_dollar_keys maybe\n}", wantErr: "on or off"},
		{name: "bad depth", input: "apigw_validate {\n max_depth -1\n}", wantErr: "positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mh, err := parseValidate(httpcaddyfile.Helper{Dispenser: caddyfile.NewTestDispenser(tc.input)})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(mh.(*Validate)) {
				b, _ := json.Marshal(mh)
				t.Fatalf("unexpected config %s", b)
			}
		})
	}
}

func provisionValidate(t testing.TB, v *Validate) error {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := v.Provision(ctx); err != nil {
		return err
	}
	return v.Validate()
}

func TestValidateProvisionErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	_ = os.WriteFile(bad, []byte(`{"type": 5}`), 0o600)
	for _, tc := range []struct {
		name string
		v    Validate
		want string
	}{
		{"missing schema file", Validate{Options: validation.Options{BodySchemaFile: filepath.Join(dir, "nope.json")}}, "body_schema_file"},
		{"bad schema file", Validate{Options: validation.Options{BodySchemaFile: bad}}, "body_schema_file " + bad},
		{"missing openapi", Validate{Options: validation.Options{OpenAPI: filepath.Join(dir, "api.yaml")}}, "apigw_validate openapi"},
		{"negative", Validate{Options: validation.Options{MaxBody: -1}}, "must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := tc.v
			err := provisionValidate(t, &v)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestValidateHandler(t *testing.T) {
	v := &Validate{Options: validation.Options{
		MaxBody:    128,
		BodySchema: json.RawMessage(`{"type":"object","properties":{"n":{"type":"integer"}},"additionalProperties":false}`),
	}}
	if err := provisionValidate(t, v); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, body string
		status     int
	}{
		{"valid", `{"n":1}`, 0},
		{"invalid", `{"n":"x"}`, 400},
		{"large", `{"n":` + strings.Repeat("1", 200) + `}`, 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/x", strings.NewReader(tc.body))
			r.Header.Set("Content-Type", "application/json")
			repl := caddyhttp.NewTestReplacer(r)
			r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl))
			var got []byte
			err := v.ServeHTTP(httptest.NewRecorder(), r, caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				var b bytes.Buffer
				_, _ = b.ReadFrom(r.Body)
				got = b.Bytes()
				return nil
			}))
			if tc.status == 0 {
				if err != nil || string(got) != tc.body {
					t.Fatalf("err %v, upstream body %q", err, got)
				}
				return
			}
			var p *problem.Problem
			if !errors.As(err, &p) || p.Status != tc.status {
				t.Fatalf("got %v, want %d", err, tc.status)
			}
			var he caddyhttp.HandlerError
			if !errors.As(err, &he) || he.StatusCode != tc.status {
				t.Fatalf("not a caddyhttp.HandlerError with status %d: %v", tc.status, err)
			}
		})
	}
}
