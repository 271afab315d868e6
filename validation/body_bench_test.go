package validation

import (
	"bytes"
	"strconv"
	"testing"
)

// bulkSchema is the demo's POST /users schema as the items of an array:
// the shape of a batch import, strict like the demo.
var bulkSchema = `{"type":"array","items":` + usersSchema + `}`

// bulkBody returns a valid array of small user objects of about size bytes.
func bulkBody(size int) []byte {
	var b bytes.Buffer
	b.WriteByte('[')
	for i := 0; b.Len() < size-70; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"email":"user` + strconv.Itoa(i) + `@example.com","name":"User Number ` + strconv.Itoa(i) + `","age":` + strconv.Itoa(i%150) + `}`)
	}
	b.WriteByte(']')
	return b.Bytes()
}

// bulkLimits are the default limits with room for a 1 MB batch.
var bulkLimits = func() Limits { l := DefaultLimits; l.MaxKeys = 20000; return l }()

// bulkBodyUTF8 is bulkBody with names that are not ASCII.
func bulkBodyUTF8(size int) []byte {
	return bytes.ReplaceAll(bulkBody(size), []byte("User Number"), []byte("Zoë Ñúñez Ærøskøbing"))
}

func benchBulk(b *testing.B, size int) {
	benchBulkBody(b, bulkBody(size))
}

func benchBulkBody(b *testing.B, body []byte) {
	s, err := CompileSchema("b", []byte(bulkSchema), true)
	if err != nil {
		b.Fatal(err)
	}
	benchValidate(b, New(Config{Body: s, MaxBody: 2 << 20, Limits: bulkLimits}), body)
}

func BenchmarkValidateBulk1KB(b *testing.B)   { benchBulk(b, 1<<10) }
func BenchmarkValidateBulk100KB(b *testing.B) { benchBulk(b, 100<<10) }
func BenchmarkValidateBulk1MB(b *testing.B)   { benchBulk(b, 1<<20) }

// BenchmarkValidateBulk1MBUTF8 is BenchmarkValidateBulk1MB with names
// that are not ASCII (UTF-8 and control-character checks).
func BenchmarkValidateBulk1MBUTF8(b *testing.B) { benchBulkBody(b, bulkBodyUTF8(1<<20)) }
