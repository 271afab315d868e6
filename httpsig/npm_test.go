package httpsig

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/apigw/caddy-apigw/internal/testutil"
)

// TestNPMInterop verifies signatures made by the npm
// http-message-signatures package (internal/testutil/js/sign.mjs) for
// every algorithm, with keys made here.
func TestNPMInterop(t *testing.T) {
	if testing.Short() {
		t.Skip("runs node")
	}
	dir := t.TempDir()
	writeKey := func(name string, priv any) string {
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	secret := "npm-interop-hmac-secret-0123456789abcdef"
	keys := KeyMap{}
	add := func(k *Key, err error) {
		if err != nil {
			t.Fatal(err)
		}
		keys[k.ID] = k
	}
	add(NewPublicKey("k-ed", "", edPub))
	add(NewPublicKey("k-ec", "", &ec.PublicKey))
	add(NewPublicKey("k-rsa", "", &rk.PublicKey))
	add(NewHMACKey("k-hmac", []byte(secret)))

	const url = "https://api.example.com:8443/v1/orders?b=2&a=%20x"
	body := `{"id":1}`
	fields := []string{"@method", "@authority", "@path", "@query", "@target-uri", "@scheme", "content-digest", "content-type", `"@query-param";name="a"`}
	type spec struct {
		Method  string            `json:"method"`
		URL     string            `json:"url"`
		Headers map[string]string `json:"headers"`
		Body    string            `json:"body"`
		Digest  string            `json:"digest"`
		Key     string            `json:"key,omitempty"`
		Secret  string            `json:"secret,omitempty"`
		Alg     string            `json:"alg"`
		KeyID   string            `json:"keyid"`
		Label   string            `json:"label"`
		Fields  []string          `json:"fields"`
		Nonce   string            `json:"nonce"`
	}
	mk := func(keyID, alg, key string) spec {
		return spec{Method: "POST", URL: url, Headers: map[string]string{"content-type": "application/json"},
			Body: body, Digest: "sha-512", Key: key, Alg: alg, KeyID: keyID, Label: "sig1", Fields: fields, Nonce: keyID + "-n"}
	}
	hm := mk("k-hmac", AlgHMACSHA256, "")
	hm.Secret = secret
	specs := []spec{
		mk("k-ed", AlgEd25519, writeKey("ed.pem", edPriv)),
		mk("k-ec", AlgECDSAP256, writeKey("ec.pem", ec)),
		mk("k-rsa", AlgRSAPSS512, writeKey("rsa.pem", rk)),
		hm,
	}
	in, _ := json.Marshal(specs)
	var out []map[string]string
	if err := json.Unmarshal([]byte(testutil.Node(t, "sign.mjs", string(in))), &out); err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(Config{Label: "sig1", Keys: keys, Replay: newMemReplay()})
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range specs {
		t.Run(s.Alg, func(t *testing.T) {
			h := http.Header{}
			for k, val := range out[i] {
				h.Set(k, val)
			}
			m := &Message{
				Request: Request{Method: "POST", Scheme: "https", Authority: "API.example.com:8443",
					RequestURI: "/v1/orders?b=2&a=%20x", Header: h},
				HasBody:  true,
				ReadBody: func() ([]byte, error) { return []byte(body), nil },
			}
			res, err := v.Verify(context.Background(), m)
			if err != nil {
				t.Fatalf("%v\nheaders %v", err, out[i])
			}
			if res.Key.ID != s.KeyID {
				t.Fatalf("verified by %s", res.Key.ID)
			}
			if _, err := v.Verify(context.Background(), m); err == nil {
				t.Fatal("the same nonce was accepted twice")
			}
		})
	}
}

// memReplay is a ReplayStore for tests.
type memReplay struct{ seen map[string]time.Time }

func newMemReplay() *memReplay { return &memReplay{seen: map[string]time.Time{}} }

func (m *memReplay) SetNX(_ context.Context, key string, _ []byte, ttl time.Duration) (bool, error) {
	if _, ok := m.seen[key]; ok {
		return false, nil
	}
	m.seen[key] = time.Now().Add(ttl)
	return true, nil
}
