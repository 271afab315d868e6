package caddymodule

import (
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apigw/caddy-apigw/internal/testutil"
)

// The /sig/* tests sign requests with the npm http-message-signatures
// package (internal/testutil/js/sign.mjs) and the demo key's private
// half, which lives only in test data, and send them through the real
// binary running Caddyfile.example.

const hsPrivateKey = "demo-ed25519.test-private.pem" // in testutil.NodeDir()

// hsSpec is one request for sign.mjs to sign.
type hsSpec struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    string            `json:"body,omitempty"`
	Repeat  int               `json:"repeat,omitempty"`
	Digest  string            `json:"digest,omitempty"`
	Key     string            `json:"key,omitempty"`
	Secret  *string           `json:"secret,omitempty"`
	Alg     string            `json:"alg"`
	KeyID   string            `json:"keyid"`
	Label   string            `json:"label"`
	Fields  []string          `json:"fields"`
	Created *int64            `json:"created,omitempty"`
	Expires *int64            `json:"expires,omitempty"`
	Nonce   *string           `json:"nonce,omitempty"`
}

// hsDemoSpec is a request signed as the demo expects: label sig1, key
// demo-ed25519, created now, and the given covered components.
func hsDemoSpec(method, url, body string, fields ...string) hsSpec {
	s := hsSpec{Method: method, URL: url, Body: body, Key: hsPrivateKey, Alg: "ed25519",
		KeyID: "demo-ed25519", Label: "sig1", Fields: fields}
	if body != "" {
		s.Digest = "sha-256"
		s.Headers = map[string]string{"content-type": "application/json"}
	}
	return s
}

// hsSign signs all specs in one node run and returns each one's headers.
func hsSign(t *testing.T, specs ...hsSpec) []map[string]string {
	t.Helper()
	in, err := json.Marshal(specs)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]string
	if err := json.Unmarshal([]byte(testutil.Node(t, "sign.mjs", string(in))), &out); err != nil {
		t.Fatal(err)
	}
	if len(out) != len(specs) {
		t.Fatalf("sign.mjs returned %d results for %d specs", len(out), len(specs))
	}
	return out
}

// hsSend sends a request with the signed headers (and the raw extra
// header lines, which may repeat a name).
func hsSend(t *testing.T, method, url, body string, headers map[string]string, extra ...[2]string) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	for _, kv := range extra {
		req.Header.Add(kv[0], kv[1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func hsPtr[T any](v T) *T { return &v }

func TestDemoHTTPSignature(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts the gateway")
	}
	c := testutil.StartCaddy(t, testutil.Options{})
	now := time.Now().Unix()
	u := c.URL
	body := `{"order":42,"note":"ünïcödé \u00e9"}`
	other := `{"order":43,"note":"ünïcödé \u00e9"}`
	base := []string{"@method", "@authority", "@path"}
	withQ := append(append([]string(nil), base...), "@query")
	withB := append(append([]string(nil), base...), "content-digest")

	type tc struct {
		name   string
		spec   hsSpec
		send   func(h map[string]string) (string, map[string]string, [][2]string) // body, headers, extra lines
		status int
		code   string
		detail string // substring of the problem detail
	}
	sha512 := hsDemoSpec("POST", u("/sig/orders"), body, withB...)
	sha512.Digest = "sha-512"
	wrongDigest := hsDemoSpec("POST", u("/sig/orders"), "", withB...)
	wrongDigest.Headers = map[string]string{"content-digest": "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:"}
	unknownKey := hsDemoSpec("GET", u("/sig/x"), "", base...)
	unknownKey.KeyID = "nobody"
	wrongLabel := hsDemoSpec("GET", u("/sig/x"), "", base...)
	wrongLabel.Label = "sig2"
	hmacAlg := hsDemoSpec("GET", u("/sig/x"), "", base...)
	hmacAlg.Key, hmacAlg.Secret, hmacAlg.Alg = "", hsPtr("a-guessable-secret-0123456789abcdef0123"), "hmac-sha256"
	expired := hsDemoSpec("GET", u("/sig/x"), "", base...)
	expired.Created, expired.Expires = hsPtr(now-100), hsPtr(now-10)
	future := hsDemoSpec("GET", u("/sig/x"), "", base...)
	future.Created, future.Expires = hsPtr(now+1000), hsPtr(now+1300)
	past := hsDemoSpec("GET", u("/sig/x"), "", base...)
	past.Created, past.Expires = hsPtr(now-1000), hsPtr(now+100)

	cases := []tc{
		{name: "GET without query", spec: hsDemoSpec("GET", u("/sig/hello"), "", base...), status: 200},
		{name: "GET with query", spec: hsDemoSpec("GET", u("/sig/hello?x=1&y=%20z"), "", withQ...), status: 200},
		{name: "GET with query, @target-uri too", spec: hsDemoSpec("GET", u("/sig/hello?x=2"), "", append(withQ, "@target-uri")...), status: 200},
		{name: "POST with sha-256 content-digest", spec: hsDemoSpec("POST", u("/sig/orders"), body, withB...), status: 200},
		{name: "POST with sha-512 content-digest", spec: sha512, status: 200},
		{name: "query not covered", spec: hsDemoSpec("GET", u("/sig/hello?x=1"), "", base...),
			status: 401, code: "invalid_signature", detail: `must cover "@query" when the request has a query`},
		{name: "body without content-digest covered", spec: hsDemoSpec("POST", u("/sig/orders"), body, base...),
			status: 401, code: "invalid_signature", detail: `must cover "content-digest" when the request has a body`},
		{name: "missing @authority", spec: hsDemoSpec("GET", u("/sig/x"), "", "@method", "@path"),
			status: 401, code: "invalid_signature", detail: `must cover "@authority"`},
		{name: "tampered body", spec: hsDemoSpec("POST", u("/sig/orders"), body, withB...),
			send:   func(h map[string]string) (string, map[string]string, [][2]string) { return other, h, nil },
			status: 401, code: "invalid_signature", detail: "Content-Digest sha-256 does not match the request body"},
		{name: "wrong digest signed", spec: wrongDigest,
			send:   func(h map[string]string) (string, map[string]string, [][2]string) { return body, h, nil },
			status: 401, code: "invalid_signature", detail: "Content-Digest sha-256 does not match the request body"},
		{name: "tampered path", spec: hsDemoSpec("GET", u("/sig/a"), "", base...),
			send:   func(h map[string]string) (string, map[string]string, [][2]string) { return "", h, nil },
			status: 401, code: "invalid_signature", detail: "the signature does not verify"},
		{name: "expired", spec: expired, status: 401, code: "invalid_signature", detail: "expired"},
		{name: "created in the future", spec: future, status: 401, code: "invalid_signature", detail: "created is in the future"},
		{name: "created too long ago", spec: past, status: 401, code: "invalid_signature", detail: "created is older than the allowed ±300s"},
		{name: "unknown key id", spec: unknownKey, status: 401, code: "invalid_signature", detail: "keyid names no key"},
		{name: "wrong algorithm", spec: hmacAlg, status: 401, code: "invalid_signature", detail: "alg does not match the algorithm of the key (ed25519)"},
		{name: "wrong label", spec: wrongLabel, status: 401, code: "invalid_signature", detail: `no signature labelled "sig1"`},
		{name: "duplicated Signature", spec: hsDemoSpec("GET", u("/sig/x"), "", base...),
			send: func(h map[string]string) (string, map[string]string, [][2]string) {
				return "", h, [][2]string{{"Signature", h["Signature"]}}
			},
			status: 401, code: "invalid_signature", detail: "Signature is sent more than once"},
		{name: "duplicated Signature-Input", spec: hsDemoSpec("GET", u("/sig/x"), "", base...),
			send: func(h map[string]string) (string, map[string]string, [][2]string) {
				return "", h, [][2]string{{"Signature-Input", h["Signature-Input"]}}
			},
			status: 401, code: "invalid_signature", detail: "Signature-Input is sent more than once"},
		{name: "garbage Signature-Input", spec: hsDemoSpec("GET", u("/sig/x"), "", base...),
			send: func(h map[string]string) (string, map[string]string, [][2]string) {
				h["Signature-Input"] = `sig1=("@method" "@path";created=1`
				return "", h, nil
			},
			status: 401, code: "invalid_signature", detail: "Signature-Input is not a valid structured field dictionary"},
		{name: "Signature an inner list", spec: hsDemoSpec("GET", u("/sig/x"), "", base...),
			send: func(h map[string]string) (string, map[string]string, [][2]string) {
				h["Signature"] = `sig1=("a" "b")`
				return "", h, nil
			},
			status: 401, code: "invalid_signature", detail: "must be a byte sequence"},
		{name: "created a string", spec: hsDemoSpec("GET", u("/sig/x"), "", base...),
			send: func(h map[string]string) (string, map[string]string, [][2]string) {
				h["Signature-Input"] = strings.Replace(h["Signature-Input"], ";created=", `;created="1";x=`, 1)
				return "", h, nil
			},
			status: 401, code: "invalid_signature", detail: "created must be a non-negative integer"},
		{name: "huge Signature-Input", spec: hsDemoSpec("GET", u("/sig/x"), "", base...),
			send: func(h map[string]string) (string, map[string]string, [][2]string) {
				h["Signature-Input"] += `;tag="` + strings.Repeat("a", 9000) + `"`
				return "", h, nil
			},
			status: 401, code: "invalid_signature", detail: "Signature-Input is larger than 8192 bytes"},
		{name: "unsigned", spec: hsDemoSpec("GET", u("/sig/x"), "", base...),
			send:   func(map[string]string) (string, map[string]string, [][2]string) { return "", nil, nil },
			status: 401, code: "invalid_signature", detail: "the request is not signed"},
	}
	specs := make([]hsSpec, len(cases))
	for i, c := range cases {
		specs[i] = c.spec
	}
	signed := hsSign(t, specs...)
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reqBody, h, extra := tc.spec.Body, signed[i], [][2]string(nil)
			url := tc.spec.URL
			if tc.send != nil {
				reqBody, h, extra = tc.send(h)
				if tc.name == "tampered path" {
					url = u("/sig/b")
				}
			}
			resp, b := hsSend(t, tc.spec.Method, url, reqBody, h, extra...)
			if tc.status != 200 {
				p := expectProblem(t, resp, b, tc.status, tc.code)
				if !strings.Contains(p.Detail, tc.detail) {
					t.Fatalf("detail %q, want it to contain %q", p.Detail, tc.detail)
				}
				if got := resp.Header.Get("WWW-Authenticate"); got != `Signature label="sig1"` {
					t.Fatalf("WWW-Authenticate %q", got)
				}
				if as := resp.Header.Get("Accept-Signature"); !strings.HasPrefix(as, `sig1=("@method" "@authority" "@path"`) || !strings.Contains(as, ";created") {
					t.Fatalf("Accept-Signature %q", as)
				}
				return
			}
			if tc.spec.Method == "POST" {
				// the demo upstream echoes the body: passed on byte for byte
				if resp.StatusCode != 200 || string(b) != reqBody {
					t.Fatalf("status %d, upstream got body %q, want %q", resp.StatusCode, b, reqBody)
				}
				if got := resp.Header.Get("X-Upstream-Saw-Auth-User"); got != "demo-ed25519" {
					t.Fatalf("upstream saw X-Auth-User %q", got)
				}
				return
			}
			expectUpstream(t, resp, b, "demo-ed25519", "http_signature")
			var echo upstreamEcho
			_ = json.Unmarshal(b, &echo)
			if echo.Headers["signature"] != "" || echo.Headers["signature-input"] != "" {
				t.Fatalf("the signature reached the upstream: %s", b)
			}
		})
	}

	t.Run("replayed request", func(t *testing.T) {
		nonce := hsDemoSpec("GET", u("/sig/once"), "", base...)
		nonce.Nonce = hsPtr("n-" + strconv.FormatInt(time.Now().UnixNano(), 36))
		again := nonce // same nonce, another request
		again.URL = u("/sig/twice")
		noNonce := hsDemoSpec("GET", u("/sig/no-nonce"), "", base...)
		h := hsSign(t, nonce, again, noNonce)
		resp, b := hsSend(t, "GET", nonce.URL, "", h[0])
		expectUpstream(t, resp, b, "demo-ed25519", "http_signature")
		resp, b = hsSend(t, "GET", nonce.URL, "", h[0])
		p := expectProblem(t, resp, b, 401, "replayed_request")
		if !strings.Contains(p.Detail, "nonce was already used") {
			t.Fatalf("detail %q", p.Detail)
		}
		resp, b = hsSend(t, "GET", again.URL, "", h[1])
		expectProblem(t, resp, b, 401, "replayed_request")
		// without a nonce, the demo (allow_repeat_without_nonce) accepts
		// the same signed request again within its window
		for range 2 {
			resp, b = hsSend(t, "GET", noNonce.URL, "", h[2])
			expectUpstream(t, resp, b, "demo-ed25519", "http_signature")
		}
	})

	t.Run("body over max_body", func(t *testing.T) {
		big := strings.Repeat("x", 1<<20+1)
		spec := hsDemoSpec("POST", u("/sig/big"), "x", withB...)
		spec.Repeat = len(big)
		h := hsSign(t, spec)
		resp, b := hsSend(t, "POST", spec.URL, big, h[0])
		expectProblem(t, resp, b, 413, "payload_too_large")
	})

	t.Run("nothing secret logged", func(t *testing.T) {
		log := c.Log.String()
		for _, s := range signed {
			if sig := s["Signature"]; sig != "" && strings.Contains(log, strings.TrimSuffix(strings.TrimPrefix(sig, "sig1=:"), ":")) {
				t.Fatalf("a signature value is in the log")
			}
		}
		if strings.Contains(log, "nobody") {
			t.Fatalf("a client-sent key id is in the log")
		}
	})
}

// TestDemoHTTPSignatureSharedRedis replays one signed request on a second
// instance sharing a real redis-server.
func TestDemoHTTPSignatureSharedRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts the gateway and redis")
	}
	rd := testutil.StartRedis(t)
	env := []string{"APIGW_STORE=" + rd.URL(0)}
	example := filepath.Join(testutil.RepoRoot(), "Caddyfile.example")
	g1 := testutil.StartCaddy(t, testutil.Options{Config: example, Env: env})
	// the second instance listens on another port, so the request is
	// signed again for it, with the same nonce
	g2 := testutil.StartCaddy(t, testutil.Options{Config: example, Env: env})
	nonce := hsPtr("shared-" + strconv.FormatInt(time.Now().UnixNano(), 36))
	s1 := hsDemoSpec("GET", g1.URL("/sig/x"), "", "@method", "@authority", "@path")
	s1.Nonce = nonce
	s2 := s1
	s2.URL = g2.URL("/sig/x")
	h := hsSign(t, s1, s2)
	resp, b := hsSend(t, "GET", s1.URL, "", h[0])
	expectUpstream(t, resp, b, "demo-ed25519", "http_signature")
	resp, b = hsSend(t, "GET", s2.URL, "", h[1])
	expectProblem(t, resp, b, 401, "replayed_request")
}
