package validation

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"unicode/utf8"
)

// specialMask must mark exactly the bytes that str's byte loop stops at
// or marks, and stopMask those it stops at, whatever their neighbours:
// every pair of bytes, alternating.
func TestStringMasks(t *testing.T) {
	for b := range 256 {
		for c := range 256 {
			var w [8]byte
			for i := range w {
				w[i] = byte(b)
				if i%2 == 1 {
					w[i] = byte(c)
				}
			}
			m := specialMask(binary.LittleEndian.Uint64(w[:]))
			stop := stopMask(binary.LittleEndian.Uint64(w[:]))
			for i := range w {
				if got := m>>(8*i)&0x80 != 0; got != (strClass[w[i]] != plainByte) {
					t.Fatalf("byte %#x at %d in %x: marked %v", w[i], i, w, got)
				}
				if got := stop>>(8*i)&0x80 != 0; got != (strClass[w[i]] == stopByte) {
					t.Fatalf("byte %#x at %d in %x: a stop %v", w[i], i, w, got)
				}
			}
		}
	}
}

// textRunes must answer as utf8.Valid, hasControl and utf8.RuneCount
// together, on chosen strings and on random bytes.
func TestTextRunes(t *testing.T) {
	check := func(t *testing.T, s []byte) {
		t.Helper()
		for _, noControl := range []bool{false, true} {
			n, ok := textRunes(s, noControl)
			wantOK := utf8.Valid(s) && !(noControl && hasControl(s))
			if ok != wantOK || ok && n != utf8.RuneCount(s) {
				t.Fatalf("%q, noControl %v: %d, %v", s, noControl, n, ok)
			}
		}
	}
	for _, s := range []string{"", "a", "é", "Zoë\t\n\r", "\x00é", "é\x7f", "\u0085", "\u009f", "\u00a0", "\ufffd", "\xef\xbf\xbd",
		"\xff", "\xc2", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "😀", "\xf0\x9f\x98", "a\xc2\x80b"} {
		t.Run(s, func(t *testing.T) { check(t, []byte(s)) })
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 20000 {
		b := make([]byte, rng.IntN(8))
		for i := range b {
			b[i] = []byte{0, 'a', 0x7f, 0x80, 0x9f, 0xa0, 0xbf, 0xc2, 0xc3, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xff, byte(rng.IntN(256))}[rng.IntN(16)]
		}
		check(t, b)
	}
}
