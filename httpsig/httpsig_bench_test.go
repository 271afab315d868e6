package httpsig

import (
	"context"
	"testing"
)

// benchVerify measures one full verification of a demo-shaped signed GET
// (parse both fields, look the key up, check the window and the required
// components, build the base, verify the signature); the replay store is
// left out (it is one SetNX, measured in store/).
func benchVerify(b *testing.B, keyID string) {
	ts := newTestSigner(b, Config{Label: "sig1"})
	m := testMessage("GET", "/sig/orders?page=2&sort=desc", "")
	ts.sign(b, m, keyID, "sig1", `("@method" "@authority" "@path" "@query");`+created+`;keyid="`+keyID+`";expires=1800000300;nonce="b3k2pp5k7z-50gnwp"`)
	ctx := context.Background()
	if _, err := ts.v.Verify(ctx, m); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := ts.v.Verify(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyEd25519(b *testing.B) { benchVerify(b, "ed") }

func BenchmarkVerifyES256(b *testing.B) { benchVerify(b, "ec") }

func BenchmarkVerifyHMAC(b *testing.B) { benchVerify(b, "hm") }

// BenchmarkParseAndBase isolates the structured-field parsing and the
// signature base, without the signature check.
func BenchmarkParseAndBase(b *testing.B) {
	ts := newTestSigner(b, Config{Label: "sig1"})
	m := testMessage("GET", "/sig/orders?page=2&sort=desc", "")
	ts.sign(b, m, "ed", "sig1", `("@method" "@authority" "@path" "@query");`+created+`;keyid="ed";nonce="b3k2pp5k7z-50gnwp"`)
	in, sig := m.Header.Get("Signature-Input"), m.Header.Get("Signature")
	b.ReportAllocs()
	for b.Loop() {
		s, err := ParseSignature(in, sig, "sig1")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Base(&m.Request, s); err != nil {
			b.Fatal(err)
		}
	}
}
