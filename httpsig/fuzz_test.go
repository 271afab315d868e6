package httpsig

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/apigw/caddy-apigw/failure"
)

// FuzzParseSignature feeds arbitrary Signature-Input and Signature values
// (and a request target) through parsing, signature-base construction and
// verification. Nothing may panic, every refusal is a *failure.Error, and only
// the one seed signed with the test key may verify. The seed corpus runs
// as a normal test.
func FuzzParseSignature(f *testing.F) {
	ts := newTestSigner(f, Config{Label: "", Required: []string{}, RequiredWithQuery: []string{}, RequiredWithBody: []string{}})
	valid := testMessage("GET", "/a?x=1", "")
	ts.sign(f, valid, "ed", "sig1", `("@method" "@authority" "@path" "@query" "@query-param";name="x");`+created+`;keyid="ed";nonce="n"`)
	vIn, vSig := valid.Header.Get("Signature-Input"), valid.Header.Get("Signature")
	for _, seed := range [][3]string{
		{vIn, vSig, "/a?x=1"},
		{vIn, vSig, "/a?x=2"},
		{`sig-b21=();created=1618884473;keyid="test-key-rsa-pss";nonce="b3k2pp5k7z-50gnwp.yemd"`, `sig-b21=:d2pm:`, "/foo?param=Value&Pet=dog"},
		{`sig1=("@method" "@target-uri" "@request-target" "@scheme" "example-dict";sf "example-dict";key="a" "x";bs);created=1;keyid="ed"`, `sig1=:AAAA:`, "/"},
		{`sig1=("@query-param";name="a%20b");created=1;keyid="ed"`, `sig1=:AAAA:`, "/?a+b=1&a%20b=2"},
		{`sig1=("@status" "@path";req "x";tr);created=1;keyid="ed"`, `sig1=:AAAA:`, "/"},
		{`sig1=("@method" "@method");created=1;keyid="ed"`, `sig1=:AAAA:`, "/"},
		{`sig1=("@signature-params");created=1;keyid="ed"`, `sig1=:AAAA:`, "*"},
		{`a=1, b=(1 2), c=?0, d=@1659578233, e=%"caf%c3%a9"`, `a=:AA==:, b=:AA==:`, "http://h/p?q"},
		{`sig1=(`, `sig1=:`, ""},
		{"", "", ""},
		{`sig1=();created=1.5;keyid=1;nonce=?1;alg=tok;expires=-1`, `sig1="str"`, "/"},
		{strings.Repeat(`s=("a");created=1, `, 50), strings.Repeat("s=:AA==:, ", 50), "/"},
	} {
		f.Add(seed[0], seed[1], seed[2])
	}
	f.Fuzz(func(t *testing.T, in, sig, target string) {
		m := &Message{Request: Request{Method: "GET", Scheme: "https", Authority: "api.example.com",
			RequestURI: target, Header: http.Header{}}}
		m.Header.Set("Signature-Input", in)
		m.Header.Set("Signature", sig)
		m.Header.Set("Example-Dict", "a=1, b=2")
		m.Header.Set("X", "y")
		if s, err := ParseSignature(in, sig, ""); err == nil {
			_, _ = Base(&m.Request, s)
		} else {
			var ve *failure.Error
			if !errors.As(err, &ve) {
				t.Fatalf("parse error of type %T: %v", err, err)
			}
		}
		_, err := ts.v.Verify(context.Background(), m)
		if err == nil {
			if in != vIn || sig != vSig || target != "/a?x=1" {
				t.Fatalf("forged signature accepted: %q %q %q", in, sig, target)
			}
			return
		}
		var ve *failure.Error
		if !errors.As(err, &ve) {
			t.Fatalf("error of type %T: %v", err, err)
		}
	})
}

// FuzzContentDigest checks that only a digest of the body itself passes.
func FuzzContentDigest(f *testing.F) {
	for _, seed := range [][2]string{
		{"sha-256=:LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=:", "hello"},
		{"sha-512=:m3HSJL1i83hdltRq0+o9czGb+8KJDKra4t/3JRlnPKcjI8PZm6XBHXx6zG4UuMXaDEZjR1wuXDre9G9zvN7AQw==:, md5=:AA==:", "hello"},
		{"sha-256=:AA==:", "hello"},
		{`sha-256="x"`, ""},
		{"sha-256=(1 2)", ""},
		{"", ""},
		{"unixsum=:AA==:", "x"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, field, body string) {
		err := CheckContentDigest([]string{field}, []byte(body))
		if err == nil {
			if !strings.Contains(field, "sha-") {
				t.Fatalf("digest without sha-256/sha-512 accepted: %q", field)
			}
			return
		}
		var ve *failure.Error
		if !errors.As(err, &ve) {
			t.Fatalf("error of type %T", err)
		}
	})
}
