package httpsig

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/apigw/caddy-apigw/failure"
)

var testNow = time.Unix(1_800_000_000, 0)

type testSigner struct {
	ed ed25519.PrivateKey
	ec *ecdsa.PrivateKey
	v  *Verifier
}

func newTestSigner(t testing.TB, cfg Config) *testSigner {
	t.Helper()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	edKey, _ := NewPublicKey("ed", "", pub)
	ecKey, _ := NewPublicKey("ec", "", &ec.PublicKey)
	hk, _ := NewHMACKey("hm", []byte(strings.Repeat("s", 32)))
	cfg.Keys = KeyMap{"ed": edKey, "ec": ecKey, "hm": hk}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return testNow }
	}
	v, err := NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &testSigner{ed: priv, ec: ec, v: v}
}

// sign signs m with the key id under label and the given Signature-Input
// member value (without label), setting both headers.
func (ts *testSigner) sign(t testing.TB, m *Message, keyID, label, member string) {
	t.Helper()
	m.Header.Set("Signature-Input", label+"="+member)
	m.Header.Set("Signature", label+"=:AA==:")
	s, err := ParseSignature(m.Header.Get("Signature-Input"), m.Header.Get("Signature"), label)
	if err != nil {
		return // unsignable on purpose: Verify reports the same error
	}
	base, err := Base(&m.Request, s)
	if err != nil {
		return
	}
	var sig []byte
	switch keyID {
	case "ed":
		sig, err = Sign(AlgEd25519, ts.ed, base)
	case "ec":
		sig, err = Sign(AlgECDSAP256, ts.ec, base)
	case "hm":
		sig, err = Sign(AlgHMACSHA256, []byte(strings.Repeat("s", 32)), base)
	}
	if err != nil {
		t.Fatal(err)
	}
	m.Header.Set("Signature", label+"=:"+base64.StdEncoding.EncodeToString(sig)+":")
}

func testMessage(method, target, body string) *Message {
	m := &Message{Request: Request{Method: method, Scheme: "https", Authority: "api.example.com",
		RequestURI: target, Header: http.Header{}}}
	if body != "" {
		m.HasBody = true
		sum := sha256.Sum256([]byte(body))
		m.Header.Set("Content-Digest", "sha-256=:"+base64.StdEncoding.EncodeToString(sum[:])+":")
		m.ReadBody = func() ([]byte, error) { return []byte(body), nil }
	}
	return m
}

const created = "created=1800000000"

func TestVerifyRefusals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cfg    Config
		msg    func() *Message
		key    string
		label  string
		member string
		mutate func(m *Message)
		kind   error
		detail string // "" = accepted
	}{
		{name: "accepted ed25519", msg: func() *Message { return testMessage("GET", "/a", "") },
			key: "ed", member: `("@method" "@authority" "@path");` + created + `;keyid="ed";alg="ed25519"`},
		{name: "accepted ecdsa with body", msg: func() *Message { return testMessage("POST", "/a?x=1", "hello") },
			key: "ec", member: `("@method" "@authority" "@path" "@query" "content-digest");` + created + `;keyid="ec"`},
		{name: "accepted hmac", msg: func() *Message { return testMessage("GET", "/a", "") },
			key: "hm", member: `("@method" "@authority" "@path");` + created + `;keyid="hm"`},
		// a required header covered by one dictionary member (;key=) is
		// not covered: with an unchecked algorithm's member signed, a
		// sha-256 member added in transit would vouch for another body
		{name: "content-digest covered by one member", msg: func() *Message {
			m := testMessage("POST", "/a", "tampered")
			m.Header.Set("Content-Digest", "md5=:AAAAAAAAAAAAAAAAAAAAAA==:, "+m.Header.Get("Content-Digest"))
			return m
		}, key: "ed", member: `("@method" "@authority" "@path" "content-digest";key="md5");` + created + `;keyid="ed"`,
			detail: `must cover "content-digest" when the request has a body`},
		{name: "required covered whole as bs", msg: func() *Message { return testMessage("POST", "/a", "hello") },
			key: "ed", member: `("@method" "@authority" "@path" "content-digest";bs);` + created + `;keyid="ed"`},
		{name: "no keyid", msg: func() *Message { return testMessage("GET", "/a", "") },
			key: "ed", member: `("@method" "@authority" "@path");` + created, detail: "keyid is required"},
		{name: "keyid an integer", msg: func() *Message { return testMessage("GET", "/a", "") },
			key: "ed", member: `("@method" "@authority" "@path");` + created + `;keyid=1`, detail: "keyid must be a string"},
		{name: "alg mismatch", msg: func() *Message { return testMessage("GET", "/a", "") },
			key: "ed", member: `("@method" "@authority" "@path");` + created + `;keyid="ed";alg="hmac-sha256"`, detail: "alg does not match"},
		{name: "no created", msg: func() *Message { return testMessage("GET", "/a", "") },
			key: "ed", member: `("@method" "@authority" "@path");keyid="ed"`, detail: "created is required"},
		{name: "created negative", msg: func() *Message { return testMessage("GET", "/a", "") },
			key: "ed", member: `("@method" "@authority" "@path");created=-1;keyid="ed"`, detail: "non-negative integer"},
		{name: "created decimal", msg: func() *Message { return testMessage("GET", "/a", "") },
			key: "ed", member: `("@method" "@authority" "@path");created=1.5;keyid="ed"`, detail: "non-negative integer"},
		{name: "expires before created", msg: func() *Message { return testMessage("GET", "/a", "") },
			key: "ed", member: `("@method" "@authority" "@path");` + created + `;expires=1;keyid="ed"`, detail: "expires is before created"},
		{name: "nonce required", cfg: Config{RequireNonce: true}, msg: func() *Message { return testMessage("GET", "/a", "") },
			key: "ed", member: `("@method" "@authority" "@path");` + created + `;keyid="ed"`, detail: "nonce is required"},
		{name: "duplicate component", msg: func() *Message { return testMessage("GET", "/a", "") },
			key: "ed", member: `("@method" "@authority" "@path" "@path");` + created + `;keyid="ed"`, detail: "covered twice"},
		{name: "uppercase component", msg: func() *Message { return testMessage("GET", "/a", "") },
			key: "ed", member: `("@method" "@authority" "@path" "Content-Type");` + created + `;keyid="ed"`, detail: "not lowercase"},
		{name: "component not a string", msg: func() *Message { return testMessage("GET", "/a", "") },
			key: "ed", member: `("@method" "@authority" "@path" 1);` + created + `;keyid="ed"`, detail: "is not a string"},
		{name: "unknown derived", msg: func() *Message { return testMessage("GET", "/a", "") },
			key: "ed", member: `("@method" "@authority" "@path" "@foo");` + created + `;keyid="ed"`, detail: "derived component the gateway does not know"},
		{name: "@status on a request", msg: func() *Message { return testMessage("GET", "/a", "") },
			key: "ed", member: `("@method" "@authority" "@path" "@status");` + created + `;keyid="ed"`, detail: "responses only"},
		{name: "req parameter", msg: func() *Message { return testMessage("GET", "/a", "") },
			key: "ed", member: `("@method" "@authority" "@path";req);` + created + `;keyid="ed"`, detail: "response signatures only"},
		{name: "absent header", msg: func() *Message { return testMessage("GET", "/a", "") },
			key: "ed", member: `("@method" "@authority" "@path" "x-missing");` + created + `;keyid="ed"`, detail: "no such header"},
		{name: "signature-params listed", msg: func() *Message { return testMessage("GET", "/a", "") },
			key: "ed", member: `("@method" "@authority" "@path" "@signature-params");` + created + `;keyid="ed"`, detail: "must not be listed"},
		{name: "sf on an unknown field", msg: func() *Message {
			m := testMessage("GET", "/a", "")
			m.Header.Set("X-Custom", "a")
			return m
		}, key: "ed", member: `("@method" "@authority" "@path" "x-custom";sf);` + created + `;keyid="ed"`, detail: "structured type"},
		{name: "bs with sf", msg: func() *Message {
			m := testMessage("GET", "/a", "")
			m.Header.Set("Priority", "u=1")
			return m
		}, key: "ed", member: `("@method" "@authority" "@path" "priority";bs;sf);` + created + `;keyid="ed"`, detail: "bs cannot be combined"},
		{name: "query-param twice", msg: func() *Message { return testMessage("GET", "/a?x=1&x=2", "") },
			key: "ed", member: `("@method" "@authority" "@path" "@query" "@query-param";name="x");` + created + `;keyid="ed"`, detail: "more than once"},
		{name: "query-param absent", msg: func() *Message { return testMessage("GET", "/a?y=1", "") },
			key: "ed", member: `("@method" "@authority" "@path" "@query" "@query-param";name="x");` + created + `;keyid="ed"`, detail: "absent"},
		{name: "query-param without name", msg: func() *Message { return testMessage("GET", "/a?y=1", "") },
			key: "ed", member: `("@method" "@authority" "@path" "@query" "@query-param");` + created + `;keyid="ed"`, detail: "needs a name"},
		{name: "wrong label", cfg: Config{Label: "sig1"}, msg: func() *Message { return testMessage("GET", "/a", "") },
			key: "ed", label: "sig2", member: `("@method" "@authority" "@path");` + created + `;keyid="ed"`, detail: `no signature labelled "sig1"`},
		{name: "two signatures without a label", msg: func() *Message { return testMessage("GET", "/a", "") },
			key: "ed", member: `("@method" "@authority" "@path");` + created + `;keyid="ed"`,
			mutate: func(m *Message) {
				m.Header.Set("Signature-Input", m.Header.Get("Signature-Input")+`, other=();created=1`)
			}, detail: "several signatures"},
		{name: "label only in Signature-Input", cfg: Config{Label: "sig1"}, msg: func() *Message { return testMessage("GET", "/a", "") },
			key: "ed", member: `("@method" "@authority" "@path");` + created + `;keyid="ed"`,
			mutate: func(m *Message) { m.Header.Set("Signature", "other=:AA==:") }, detail: `Signature has no value labelled "sig1"`},
		{name: "other labels ignored", cfg: Config{Label: "sig1"}, msg: func() *Message { return testMessage("GET", "/a", "") },
			key: "ed", member: `("@method" "@authority" "@path");` + created + `;keyid="ed"`,
			mutate: func(m *Message) {
				m.Header.Set("Signature-Input", `proxy=("@path");created=1, `+m.Header.Get("Signature-Input"))
				m.Header.Set("Signature", `proxy=:AAAA:, `+m.Header.Get("Signature"))
			}},
		{name: "empty signature", msg: func() *Message { return testMessage("GET", "/a", "") },
			key: "ed", member: `("@method" "@authority" "@path");` + created + `;keyid="ed"`,
			mutate: func(m *Message) { m.Header.Set("Signature", "sig1=::") }, detail: "the value is empty"},
		{name: "signature a token", msg: func() *Message { return testMessage("GET", "/a", "") },
			key: "ed", member: `("@method" "@authority" "@path");` + created + `;keyid="ed"`,
			mutate: func(m *Message) { m.Header.Set("Signature", "sig1=abc") }, detail: "byte sequence"},
		{name: "input an item", msg: func() *Message { return testMessage("GET", "/a", "") },
			key: "ed", member: `("@method" "@authority" "@path");` + created + `;keyid="ed"`,
			mutate: func(m *Message) { m.Header.Set("Signature-Input", `sig1="@method"`) }, detail: "must be an inner list"},
		{name: "body tampered", msg: func() *Message { return testMessage("POST", "/a", "hello") },
			key: "ec", member: `("@method" "@authority" "@path" "content-digest");` + created + `;keyid="ec"`,
			mutate: func(m *Message) { m.ReadBody = func() ([]byte, error) { return []byte("hellO"), nil } }, detail: "does not match the request body"},
		{name: "digest without known algorithm", msg: func() *Message {
			m := testMessage("POST", "/a", "hello")
			m.Header.Set("Content-Digest", "md5=:AAAA:")
			return m
		}, key: "ec", member: `("@method" "@authority" "@path" "content-digest");` + created + `;keyid="ec"`, detail: "no sha-256 or sha-512"},
		{name: "digest a string", msg: func() *Message {
			m := testMessage("POST", "/a", "hello")
			m.Header.Set("Content-Digest", `sha-256="abc"`)
			return m
		}, key: "ec", member: `("@method" "@authority" "@path" "content-digest");` + created + `;keyid="ec"`, detail: "must be a byte sequence"},
		{name: "body read fails", msg: func() *Message { return testMessage("POST", "/a", "hello") },
			key: "ec", member: `("@method" "@authority" "@path" "content-digest");` + created + `;keyid="ec"`,
			mutate: func(m *Message) { m.ReadBody = func() ([]byte, error) { return nil, errors.New("boom") } }, detail: "boom"},
		{name: "custom required", cfg: Config{Required: []string{"@method", "@target-uri", "date"}}, msg: func() *Message { return testMessage("GET", "/a", "") },
			key: "ed", member: `("@method" "@authority" "@path");` + created + `;keyid="ed"`, detail: `must cover "@target-uri"`},
		{name: "nothing required", cfg: Config{Required: []string{}, RequiredWithQuery: []string{}}, msg: func() *Message { return testMessage("GET", "/a?q", "") },
			key: "ed", member: `();` + created + `;keyid="ed"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestSigner(t, tc.cfg)
			m := tc.msg()
			label := tc.label
			if label == "" {
				label = "sig1"
			}
			ts.sign(t, m, tc.key, label, tc.member)
			if tc.mutate != nil {
				tc.mutate(m)
			}
			res, err := ts.v.Verify(context.Background(), m)
			if tc.detail == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if res.Key.ID != tc.key {
					t.Fatalf("key %s", res.Key.ID)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.detail) {
				t.Fatalf("error %q, want %q", err, tc.detail)
			}
			var ve *failure.Error
			want := tc.kind
			if want == nil {
				want = failure.ErrInvalidSignature
			}
			if errors.As(err, &ve) && ve.Kind != want {
				t.Fatalf("kind %v", ve.Kind)
			}
		})
	}
}

func TestBaseComponents(t *testing.T) {
	m := testMessage("GET", "/p%61th/x?a=1&b=with+plus&fa%C3%A7ade%22%3A%20=something&e=&tilde=%7E*", "")
	m.Authority = "API.Example.COM:443"
	m.Header.Add("Example-Dict", " a=1,    b=2;x=1;y=2,   c=(a   b   c)")
	m.Header.Add("X-Multi", " one ")
	m.Header.Add("X-Multi", "two,  three")
	m.Header.Set("Cache-Status", `ExampleCache; hit,  Other;fwd=uri-miss`)
	in := `sig1=("@method" "@target-uri" "@authority" "@scheme" "@request-target" "@path" "@query" ` +
		`"@query-param";name="b" "@query-param";name="fa%C3%A7ade%22%3A%20" "@query-param";name="e" "@query-param";name="tilde" ` +
		`"example-dict";sf "example-dict";key="c" "example-dict";key="b" "x-multi" "x-multi";bs "cache-status";sf);created=1;keyid="ed"`
	s, err := ParseSignature(in, "sig1=:AA==:", "sig1")
	if err != nil {
		t.Fatal(err)
	}
	base, err := Base(&m.Request, s)
	if err != nil {
		t.Fatal(err)
	}
	want := `"@method": GET
"@target-uri": https://api.example.com/p%61th/x?a=1&b=with+plus&fa%C3%A7ade%22%3A%20=something&e=&tilde=%7E*
"@authority": api.example.com
"@scheme": https
"@request-target": /p%61th/x?a=1&b=with+plus&fa%C3%A7ade%22%3A%20=something&e=&tilde=%7E*
"@path": /p%61th/x
"@query": ?a=1&b=with+plus&fa%C3%A7ade%22%3A%20=something&e=&tilde=%7E*
"@query-param";name="b": with%20plus
"@query-param";name="fa%C3%A7ade%22%3A%20": something
"@query-param";name="e": 
"@query-param";name="tilde": %7E*
"example-dict";sf: a=1, b=2;x=1;y=2, c=(a b c)
"example-dict";key="c": (a b c)
"example-dict";key="b": 2;x=1;y=2
"x-multi": one, two,  three
"x-multi";bs: :b25l:, :dHdvLCAgdGhyZWU=:
"cache-status";sf: ExampleCache;hit, Other;fwd=uri-miss
"@signature-params": ("@method" "@target-uri" "@authority" "@scheme" "@request-target" "@path" "@query" "@query-param";name="b" "@query-param";name="fa%C3%A7ade%22%3A%20" "@query-param";name="e" "@query-param";name="tilde" "example-dict";sf "example-dict";key="c" "example-dict";key="b" "x-multi" "x-multi";bs "cache-status";sf);created=1;keyid="ed"`
	if string(base) != want {
		t.Fatalf("base:\n%s\nwant:\n%s", base, want)
	}
	// no query at all: "?" (RFC 9421 §2.2.7)
	m2 := testMessage("GET", "/", "")
	s2, _ := ParseSignature(`s=("@query" "@path");created=1`, "s=:AA==:", "")
	b2, err := Base(&m2.Request, s2)
	if err != nil || !strings.HasPrefix(string(b2), "\"@query\": ?\n\"@path\": /\n") {
		t.Fatalf("%q %v", b2, err)
	}
}

func TestReplayTTLAndKinds(t *testing.T) {
	rs := &recordingReplay{}
	ts := newTestSigner(t, Config{Replay: rs, Tolerance: 60 * time.Second})
	m := testMessage("GET", "/a", "")
	ts.sign(t, m, "ed", "sig1", `("@method" "@authority" "@path");created=1800000000;expires=1800000030;keyid="ed";nonce="n"`)
	if _, err := ts.v.Verify(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if rs.ttl != 31*time.Second {
		t.Fatalf("ttl %v, want until expires (+1s)", rs.ttl)
	}
	_, err := ts.v.Verify(context.Background(), m)
	var ve *failure.Error
	if !errors.As(err, &ve) || ve.Kind != failure.ErrReplayedRequest {
		t.Fatalf("second use: %v", err)
	}
	rs.fail = true
	m2 := testMessage("GET", "/b", "")
	ts.sign(t, m2, "ed", "sig1", `("@method" "@authority" "@path");created=1800000000;keyid="ed"`)
	if _, err := ts.v.Verify(context.Background(), m2); !errors.Is(err, failure.ErrUnavailable) {
		t.Fatalf("store failure: %v", err)
	}
}

type recordingReplay struct {
	seen map[string]bool
	ttl  time.Duration
	fail bool
}

func (r *recordingReplay) SetNX(_ context.Context, key string, _ []byte, ttl time.Duration) (bool, error) {
	if r.fail {
		return false, errors.New("down")
	}
	if r.seen == nil {
		r.seen = map[string]bool{}
	}
	r.ttl = ttl
	if r.seen[key] {
		return false, nil
	}
	r.seen[key] = true
	return true, nil
}
