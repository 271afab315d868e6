package validation

import (
	"bytes"
	"net/http/httptest"
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

func benchBulk(b *testing.B, size int) {
	s, err := CompileSchema("b", []byte(bulkSchema), true)
	if err != nil {
		b.Fatal(err)
	}
	v := New(Config{Body: s, MaxBody: 2 << 20, Limits: bulkLimits})
	data := bulkBody(size)
	body := &rewindReader{data: data}
	r := httptest.NewRequest("POST", "/users", nil)
	r.Header.Set("Content-Type", "application/json")
	var buf bytes.Buffer
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		body.off = 0
		r.Body = body
		r.ContentLength = int64(len(data))
		buf.Reset()
		if p := v.Validate(r, &buf); p != nil {
			b.Fatal(p, FieldErrors(p))
		}
	}
}

func BenchmarkValidateBulk1KB(b *testing.B)   { benchBulk(b, 1<<10) }
func BenchmarkValidateBulk100KB(b *testing.B) { benchBulk(b, 100<<10) }
func BenchmarkValidateBulk1MB(b *testing.B)   { benchBulk(b, 1<<20) }
