package httpsig

import (
	"context"
	"encoding/base64"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// The RFC 9421 Appendix B test request (B.2), its body and the keys of
// Appendix B.1 (public halves only; testdata/rfc9421-*).
const rfcBody = `{"hello": "world"}`

func rfcRequest(sigInput, sig string) *Message {
	h := http.Header{}
	h.Set("Host", "example.com")
	h.Set("Date", "Tue, 20 Apr 2021 02:07:55 GMT")
	h.Set("Content-Type", "application/json")
	h.Set("Content-Digest", "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:")
	h.Set("Content-Length", "18")
	h.Set("Signature-Input", sigInput)
	h.Set("Signature", sig)
	return &Message{
		Request: Request{Method: "POST", Scheme: "https", Authority: "example.com",
			RequestURI: "/foo?param=Value&Pet=dog", Header: h},
		HasBody:  true,
		ReadBody: func() ([]byte, error) { return []byte(rfcBody), nil },
	}
}

func rfcKeys(t testing.TB) KeyMap {
	t.Helper()
	m := KeyMap{}
	for id, file := range map[string]string{
		"test-key-rsa-pss":  "testdata/rfc9421-test-key-rsa-pss.pub.pem",
		"test-key-ecc-p256": "testdata/rfc9421-test-key-ecc-p256.pub.pem",
		"test-key-ed25519":  "testdata/rfc9421-test-key-ed25519.pub.pem",
	} {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		k, err := ParsePublicKeyPEM(id, "", data)
		if err != nil {
			t.Fatal(err)
		}
		m[id] = k
	}
	b64, err := os.ReadFile("testdata/rfc9421-test-shared-secret.b64")
	if err != nil {
		t.Fatal(err)
	}
	secret, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b64)))
	if err != nil {
		t.Fatal(err)
	}
	if m["test-shared-secret"], err = NewHMACKey("test-shared-secret", secret); err != nil {
		t.Fatal(err)
	}
	return m
}

// rfcVerifier requires nothing beyond what the RFC examples cover and
// runs on the examples' clock (created=1618884473).
func rfcVerifier(t testing.TB, label string) *Verifier {
	t.Helper()
	v, err := NewVerifier(Config{
		Label: label, Keys: rfcKeys(t),
		Required: []string{}, RequiredWithQuery: []string{}, RequiredWithBody: []string{},
		Now: func() time.Time { return time.Unix(1618884473+10, 0) },
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestRFC9421AppendixB verifies the request signatures of RFC 9421
// Appendix B.2 (B.2.4 signs a response and is checked below on its own).
func TestRFC9421AppendixB(t *testing.T) {
	for _, tc := range []struct {
		name, label, input, sig, base string
	}{
		{
			name: "B.2.1 minimal rsa-pss-sha512", label: "sig-b21",
			input: `sig-b21=();created=1618884473;keyid="test-key-rsa-pss";nonce="b3k2pp5k7z-50gnwp.yemd"`,
			sig:   `sig-b21=:d2pmTvmbncD3xQm8E9ZV2828BjQWGgiwAaw5bAkgibUopemLJcWDy/lkbbHAve4cRAtx31Iq786U7it++wgGxbtRxf8Udx7zFZsckzXaJMkA7ChG52eSkFxykJeNqsrWH5S+oxNFlD4dzVuwe8DhTSja8xxbR/Z2cOGdCbzR72rgFWhzx2VjBqJzsPLMIQKhO4DGezXehhWwE56YCE+O6c0mKZsfxVrogUvA4HELjVKWmAvtl6UnCh8jYzuVG5WSb/QEVPnP5TmcAnLH1g+s++v6d4s8m0gCw1fV5/SITLq9mhho8K3+7EPYTU8IU1bLhdxO5Nyt8C8ssinQ98Xw9Q==:`,
			base:  `"@signature-params": ();created=1618884473;keyid="test-key-rsa-pss";nonce="b3k2pp5k7z-50gnwp.yemd"`,
		},
		{
			name: "B.2.2 selective rsa-pss-sha512", label: "sig-b22",
			input: `sig-b22=("@authority" "content-digest" "@query-param";name="Pet");created=1618884473;keyid="test-key-rsa-pss";tag="header-example"`,
			sig:   `sig-b22=:LjbtqUbfmvjj5C5kr1Ugj4PmLYvx9wVjZvD9GsTT4F7GrcQEdJzgI9qHxICagShLRiLMlAJjtq6N4CDfKtjvuJyE5qH7KT8UCMkSowOB4+ECxCmT8rtAmj/0PIXxi0A0nxKyB09RNrCQibbUjsLS/2YyFYXEu4TRJQzRw1rLEuEfY17SARYhpTlaqwZVtR8NV7+4UKkjqpcAoFqWFQh62s7Cl+H2fjBSpqfZUJcsIk4N6wiKYd4je2U/lankenQ99PZfB4jY3I5rSV2DSBVkSFsURIjYErOs0tFTQosMTAoxk//0RoKUqiYY8Bh0aaUEb0rQl3/XaVe4bXTugEjHSw==:`,
			base: `"@authority": example.com
"content-digest": sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:
"@query-param";name="Pet": dog
"@signature-params": ("@authority" "content-digest" "@query-param";name="Pet");created=1618884473;keyid="test-key-rsa-pss";tag="header-example"`,
		},
		{
			name: "B.2.3 full coverage rsa-pss-sha512", label: "sig-b23",
			input: `sig-b23=("date" "@method" "@path" "@query" "@authority" "content-type" "content-digest" "content-length");created=1618884473;keyid="test-key-rsa-pss"`,
			sig:   `sig-b23=:bbN8oArOxYoyylQQUU6QYwrTuaxLwjAC9fbY2F6SVWvh0yBiMIRGOnMYwZ/5MR6fb0Kh1rIRASVxFkeGt683+qRpRRU5p2voTp768ZrCUb38K0fUxN0O0iC59DzYx8DFll5GmydPxSmme9v6ULbMFkl+V5B1TP/yPViV7KsLNmvKiLJH1pFkh/aYA2HXXZzNBXmIkoQoLd7YfW91kE9o/CCoC1xMy7JA1ipwvKvfrs65ldmlu9bpG6A9BmzhuzF8Eim5f8ui9eH8LZH896+QIF61ka39VBrohr9iyMUJpvRX2Zbhl5ZJzSRxpJyoEZAFL2FUo5fTIztsDZKEgM4cUA==:`,
			base: `"date": Tue, 20 Apr 2021 02:07:55 GMT
"@method": POST
"@path": /foo
"@query": ?param=Value&Pet=dog
"@authority": example.com
"content-type": application/json
"content-digest": sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:
"content-length": 18
"@signature-params": ("date" "@method" "@path" "@query" "@authority" "content-type" "content-digest" "content-length");created=1618884473;keyid="test-key-rsa-pss"`,
		},
		{
			name: "B.2.5 hmac-sha256", label: "sig-b25",
			input: `sig-b25=("date" "@authority" "content-type");created=1618884473;keyid="test-shared-secret"`,
			sig:   `sig-b25=:pxcQw6G3AjtMBQjwo8XzkZf/bws5LelbaMk5rGIGtE8=:`,
			base: `"date": Tue, 20 Apr 2021 02:07:55 GMT
"@authority": example.com
"content-type": application/json
"@signature-params": ("date" "@authority" "content-type");created=1618884473;keyid="test-shared-secret"`,
		},
		{
			name: "B.2.6 ed25519", label: "sig-b26",
			input: `sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519"`,
			sig:   `sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:`,
			base: `"date": Tue, 20 Apr 2021 02:07:55 GMT
"@method": POST
"@path": /foo
"@authority": example.com
"content-type": application/json
"content-length": 18
"@signature-params": ("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519"`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := rfcRequest(tc.input, tc.sig)
			s, err := ParseSignature(tc.input, tc.sig, tc.label)
			if err != nil {
				t.Fatal(err)
			}
			base, err := Base(&m.Request, s)
			if err != nil {
				t.Fatal(err)
			}
			if string(base) != tc.base {
				t.Fatalf("signature base:\n%s\nwant:\n%s", base, tc.base)
			}
			for _, label := range []string{tc.label, ""} {
				res, err := rfcVerifier(t, label).Verify(context.Background(), m)
				if err != nil {
					t.Fatalf("label %q: %v", label, err)
				}
				if res.Key.ID != s.KeyID || res.Label != tc.label {
					t.Fatalf("result %+v", res)
				}
			}
			// one changed covered byte, or a body that no longer matches
			// the digest, fails
			tampered := rfcRequest(tc.input, tc.sig)
			tampered.Header.Set("Date", "Tue, 20 Apr 2021 02:07:56 GMT")
			tampered.Authority = "example.org"
			tampered.ReadBody = func() ([]byte, error) { return []byte(`{"hello": "World"}`), nil }
			if _, err := rfcVerifier(t, tc.label).Verify(context.Background(), tampered); err == nil {
				t.Fatal("tampered request verified")
			}
		})
	}
}

// TestRFC9421AppendixB24 checks the ecdsa-p256-sha256 signature of
// Appendix B.2.4 (a response) over its published signature base: r||s,
// 64 bytes.
func TestRFC9421AppendixB24(t *testing.T) {
	base := `"@status": 200
"content-type": application/json
"content-digest": sha-512=:mEWXIS7MaLRuGgxOBdODa3xqM1XdEvxoYhvlCFJ41QJgJc4GTsPp29l5oGX69wWdXymyU0rjJuahq4l5aGgfLQ==:
"content-length": 23
"@signature-params": ("@status" "content-type" "content-digest" "content-length");created=1618884473;keyid="test-key-ecc-p256"`
	sig, _ := base64.StdEncoding.DecodeString("wNmSUAhwb5LxtOtOpNa6W5xj067m5hFrj0XQ4fvpaCLx0NKocgPquLgyahnzDnDAUy5eCdlYUEkLIj+32oiasw==")
	k := rfcKeys(t)["test-key-ecc-p256"]
	if k.Alg != AlgECDSAP256 {
		t.Fatalf("alg %s", k.Alg)
	}
	if err := k.verify([]byte(base), sig); err != nil {
		t.Fatal(err)
	}
	sig[10] ^= 1
	if err := k.verify([]byte(base), sig); err == nil {
		t.Fatal("altered signature verified")
	}
}
