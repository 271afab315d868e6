package hmacsig

import (
	"context"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/apigw/caddy-apigw/store"
)

var (
	secretA = []byte("0123456789abcdef0123456789abcdef-A")
	secretB = []byte("0123456789abcdef0123456789abcdef-B")
)

func TestParseSignature(t *testing.T) {
	v := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		name, h string
		err     error
		reason  string
		n       int
	}{
		{"ok", "t=1700000000,v1=" + v, nil, "", 1},
		{"ok spaces and two", "t=1700000000, v1=" + v + " ,v1=" + v, nil, "", 2},
		{"unknown key ignored", "t=1,v0=zz,v1=" + v, nil, "", 1},
		{"missing", "", ErrSignatureMissing, "", 0},
		{"no t", "v1=" + v, ErrSignatureMalformed, "no t=", 0},
		{"no v1", "t=1", ErrSignatureMalformed, "no v1=", 0},
		{"t twice", "t=1,t=2,v1=" + v, ErrSignatureMalformed, "t given twice", 0},
		{"t negative", "t=-1,v1=" + v, ErrSignatureMalformed, "unix timestamp", 0},
		{"t huge", "t=99999999999999999999,v1=" + v, ErrSignatureMalformed, "unix timestamp", 0},
		{"v1 short", "t=1,v1=abc", ErrSignatureMalformed, "64 hex", 0},
		{"v1 not hex", "t=1,v1=" + strings.Repeat("zz", 32), ErrSignatureMalformed, "64 hex", 0},
		{"garbage", "hello", ErrSignatureMalformed, "key=value", 0},
		{"too many", "t=1" + strings.Repeat(",v1="+v, 5), ErrSignatureMalformed, "more than 4", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sig Signature
			err := ParseSignature(SignatureHeader, tc.h, &sig)
			if !errors.Is(err, tc.err) || (err == nil) != (tc.err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if tc.reason != "" && !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("err = %v, want reason %q", err, tc.reason)
			}
			if err == nil && sig.N != tc.n {
				t.Fatalf("N = %d, want %d", sig.N, tc.n)
			}
		})
	}
}

func TestVerify(t *testing.T) {
	ver, err := NewVerifier([][]byte{secretA}, 300*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	rotated, _ := NewVerifier([][]byte{secretB, secretA}, 300*time.Second)
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"amount":10}`)
	good := Sign(secretA, now.Unix(), "POST", "/signed/pay?x=1", body)
	for _, tc := range []struct {
		name, header, method, target string
		body                         []byte
		v                            *Verifier
		err                          error
	}{
		{"valid", good, "POST", "/signed/pay?x=1", body, ver, nil},
		{"valid after rotation", good, "POST", "/signed/pay?x=1", body, rotated, nil},
		{"two v1, second valid", good[:strings.Index(good, "v1=")] + "v1=" + strings.Repeat("00", 32) + "," + good[strings.Index(good, "v1="):], "POST", "/signed/pay?x=1", body, ver, nil},
		{"tampered body", good, "POST", "/signed/pay?x=1", []byte(`{"amount":1000}`), ver, ErrSignatureMismatch},
		{"tampered query", good, "POST", "/signed/pay?x=2", body, ver, ErrSignatureMismatch},
		{"tampered method", good, "PUT", "/signed/pay?x=1", body, ver, ErrSignatureMismatch},
		{"wrong secret", Sign(secretB, now.Unix(), "POST", "/signed/pay?x=1", body), "POST", "/signed/pay?x=1", body, ver, ErrSignatureMismatch},
		{"expired", Sign(secretA, now.Unix()-301, "POST", "/signed/pay?x=1", body), "POST", "/signed/pay?x=1", body, ver, ErrSignatureStale},
		{"future", Sign(secretA, now.Unix()+301, "POST", "/signed/pay?x=1", body), "POST", "/signed/pay?x=1", body, ver, ErrSignatureStale},
		{"edge of tolerance", Sign(secretA, now.Unix()-300, "POST", "/signed/pay?x=1", body), "POST", "/signed/pay?x=1", body, ver, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sig Signature
			if err := ParseSignature(SignatureHeader, tc.header, &sig); err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(tc.body)
			_, err := tc.v.Verify(&sig, tc.method, tc.target, &sum, now)
			if !errors.Is(err, tc.err) || (err == nil) != (tc.err == nil) {
				t.Fatalf("Verify = %v, want %v", err, tc.err)
			}
		})
	}
}

func TestNewVerifierRejectsShortSecret(t *testing.T) {
	if _, err := NewVerifier([][]byte{[]byte("short")}, time.Minute); err == nil || !strings.Contains(err.Error(), "at least 32") {
		t.Fatalf("err = %v", err)
	}
	if _, err := NewVerifier(nil, time.Minute); err == nil {
		t.Fatal("no secret accepted")
	}
}

func TestReplayCache(t *testing.T) {
	st := store.NewMemory(time.Hour)
	defer st.Close()
	c := NewReplayCache(st, time.Minute)
	a, b := sha256.Sum256([]byte("a")), sha256.Sum256([]byte("b"))
	ctx := context.Background()
	if err := c.Accept(ctx, &a); err != nil {
		t.Fatal(err)
	}
	if err := c.Accept(ctx, &a); !errors.Is(err, ErrSignatureReplayed) {
		t.Fatalf("replay = %v", err)
	}
	if err := c.Accept(ctx, &b); err != nil {
		t.Fatal(err)
	}
}

func FuzzParseSignature(f *testing.F) {
	v := strings.Repeat("0f", 32)
	for _, s := range []string{"t=1,v1=" + v, "t=,v1=", ",,,", "t=1,v1=" + v + ",v1=" + v, "v1=" + v + ",t=17"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		var sig Signature
		err := ParseSignature(SignatureHeader, h, &sig)
		if err == nil && (sig.N < 1 || sig.N > MaxSignatures || sig.Timestamp < 0) {
			t.Fatalf("accepted %q as %+v", h, sig)
		}
		if err != nil && !errors.Is(err, ErrSignatureMissing) && !errors.Is(err, ErrSignatureMalformed) {
			t.Fatalf("unexpected error %v", err)
		}
		if err != nil && len(h) > 8 && strings.Contains(err.Error(), h) {
			t.Fatalf("error repeats the header: %v", err)
		}
	})
}

func BenchmarkSignatureVerify(b *testing.B) {
	ver, _ := NewVerifier([][]byte{secretA}, 300*time.Second)
	now := time.Now()
	body := []byte(`{"amount":10,"currency":"EUR"}`)
	h := Sign(secretA, now.Unix(), "POST", "/signed/pay?x=1", body)
	sum := sha256.Sum256(body)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var sig Signature
		if err := ParseSignature(SignatureHeader, h, &sig); err != nil {
			b.Fatal(err)
		}
		if _, err := ver.Verify(&sig, "POST", "/signed/pay?x=1", &sum, now); err != nil {
			b.Fatal(err)
		}
	}
}
