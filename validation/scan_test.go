package validation

import (
	"encoding/binary"
	"testing"
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
				if got := m>>(8*i)&0x80 != 0; got != (strClass[w[i]] != 0) {
					t.Fatalf("byte %#x at %d in %x: marked %v", w[i], i, w, got)
				}
				if got := stop>>(8*i)&0x80 != 0; got != (strClass[w[i]] == 1) {
					t.Fatalf("byte %#x at %d in %x: a stop %v", w[i], i, w, got)
				}
			}
		}
	}
}
