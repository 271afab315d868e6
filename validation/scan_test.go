package validation

import (
	"encoding/binary"
	"testing"
)

// special8 must find every byte that str's byte loop stops at or marks.
func TestSpecial8(t *testing.T) {
	for b := range 256 {
		for k := range 8 {
			var w [8]byte
			for i := range w {
				w[i] = 'a' + byte(i)
			}
			w[k] = byte(b)
			got := special8(binary.LittleEndian.Uint64(w[:]))
			if strClass[b] != 0 && !got {
				t.Fatalf("byte %#x at %d not found", b, k)
			}
			if strClass[b] == 0 && got {
				t.Fatalf("plain byte %#x at %d reported", b, k)
			}
		}
	}
}
