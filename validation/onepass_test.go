package validation

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// onePassSchemas are schemas inside the one-pass subset, chosen to reach
// every rule of it.
var onePassSchemas = []struct {
	src    string
	strict bool
}{
	{usersSchema, true},
	{bulkSchema, true},
	{`{"type":"object","properties":{"n":{"type":"number","minimum":-1.5,"exclusiveMaximum":1e2},"i":{"type":"integer","exclusiveMinimum":0,"maximum":12345678901234567890123},"e":{"enum":[1,2.5,"a","é",true,null,1e30]},"c":{"const":0.1}}}`, false},
	{`{"type":["string","null","array"],"minLength":2,"maxLength":3,"items":{"type":["integer","boolean"]},"minItems":1,"maxItems":3}`, false},
	{`{"required":["a","$b","x.y"],"properties":{"a":true,"z":false},"additionalProperties":{"type":"object","minProperties":1,"maxProperties":2}}`, false},
	{`{"type":"array","unevaluatedItems":{"type":"string","format":"email"}}`, false},
	{`{"properties":{"a":{"properties":{"b":{"type":"array","items":{"type":"object"}}}}},"unevaluatedProperties":{"type":"number"}}`, true},
	{`{"$schema":"https://json-schema.org/draft/2020-12/schema","title":"t","description":"d","type":"object","properties":{"s":{"type":"string","default":"x","examples":["y"]}}}`, true},
	{`{"type":"array","items":{"type":["integer","string"],"exclusiveMinimum":-3,"exclusiveMaximum":150,"minimum":-5,"maximum":149}}`, false},
	{`true`, false},
	{`false`, false},
}

var onePassLimits = []Limits{DefaultLimits, {}, {MaxDepth: 3, MaxKeys: 3, RejectDottedKeys: true, RejectDollarKeys: true, RejectControlChars: true}}

// checkOnePass fails t if the one-pass check and ParseJSON plus the
// library disagree on data.
func checkOnePass(t *testing.T, i int, s *Schema, data []byte) {
	t.Helper()
	for _, lim := range onePassLimits {
		fast := s.fast.accepts(data, lim)
		val, fes := ParseJSON(data, lim)
		lib := len(fes) == 0 && s.Validate(val, "") == nil
		if fast != lib {
			t.Fatalf("schema %d, limits %+v: one pass says %v, library %v, for %q", i, lim, fast, lib, data)
		}
	}
}

func compileOnePassSchemas(t testing.TB) []*Schema {
	out := make([]*Schema, len(onePassSchemas))
	for i, sc := range onePassSchemas {
		s, err := CompileSchema("s", []byte(sc.src), sc.strict)
		if err != nil {
			t.Fatal(err)
		}
		if s.fast == nil {
			t.Fatalf("schema %d is not compiled to the one-pass subset", i)
		}
		out[i] = s
	}
	return out
}

func TestOnePassSubset(t *testing.T) {
	for _, tc := range []struct {
		src  string
		fast bool
	}{
		{usersSchema, true},
		{`{"type":"string","pattern":"^a"}`, false},
		{`{"allOf":[{"type":"string"}]}`, false},
		{`{"$defs":{"a":{"type":"string"}},"$ref":"#/$defs/a"}`, false},
		{`{"$schema":"http://json-schema.org/draft-07/schema#","type":"string"}`, false},
		{`{"type":"string","format":"date"}`, false},
		{`{"enum":[{"a":1}]}`, false},
		{`{"type":"number","multipleOf":2}`, false},
	} {
		t.Run(tc.src, func(t *testing.T) {
			s, err := CompileSchema("s", []byte(tc.src), false)
			if err != nil {
				t.Fatal(err)
			}
			if (s.fast != nil) != tc.fast {
				t.Fatalf("compiled to the subset: %v, want %v", s.fast != nil, tc.fast)
			}
		})
	}
}

// onePassSeeds are documents near the edges of the subset's rules.
var onePassSeeds = []string{
	`{"email":"ada@example.com","name":"Ada","age":36}`, `{"email":"ada@example.com","name":"Ada","age":36.0}`,
	`{"email":"ada@example.com","name":"Ada","age":1.5e1}`, `{"email":"ada@example.com","name":"Ada","age":150.0000000000000000001}`,
	`{"email":"ada@example.com","name":"Ada","age":-0}`, `{"email":"ada@example.com","name":"Ada","age":1e400}`,
	`{"email":"ada@example.com","name":"","age":3}`, `{"email":"a..b@example.com","name":"A"}`, `{"email":"\"q\"@[127.0.0.1]","name":"A"}`,
	`{"email":"ada@example.com","name":"A","email":"b@example.com"}`, `{"email":"ada@exa_mple.com","name":"A"}`,
	`{"email":"ada@example.com","name":"\u00e9\ud83d\ude00"}`, `{"email":"ada@example.com","name":"A","x":1}`,
	`[{"email":"a@b.c","name":"n"}]`, `[]`, `{"n":-1.5,"i":1,"e":2.50,"c":0.10}`, `{"n":100,"i":0}`, `{"i":12345678901234567890123}`,
	`{"i":12345678901234567890124}`, `{"e":1E+30}`, `{"e":"\u00e9"}`, `{"e":null,"c":1e-1}`, `"ab"`, `"abcd"`, `[1,true]`, `[1.5]`, `null`,
	`{"a":1,"$b":{"k":1},"x.y":{"k":1,"l":2}}`, `{"a":1,"$b":{},"x.y":{"k":1}}`, `{"z":1}`, `["a@b.co","x"]`,
	`{"a":{"b":[{}, {"c":1}]},"q":1}`, `{"a":{"b":[{}],"d":1}}`, `{"s":"x\u0000"}`, `{"s":"\u0085"}`, `{"k1":1,"k2":2,"k3":3,"k4":4}`,
	`[[[[1]]]]`, `[-3,-2,149,150,"x"]`, `[{"email":"a@b.co","name":"n"},{"email":"c@b.co","name":"n"},{"email":"d@b-.co","name":"n"}]`,
	`[{"email":"a@b.co","name":"n"},{"email":"c@\u0062.co","name":"n"},{"email":"d@b.co","name":"n"}]`, `{"a":1} x`, `{"a":1,"a":1}`, `{"\u0061":1,"a":2}`, ` {"s" : "x" } `, "\"\xff\"", `{"s":"\ud800"}`,
}

func FuzzOnePassMatchesLibrary(f *testing.F) {
	schemas := compileOnePassSchemas(f)
	for _, s := range onePassSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for i, s := range schemas {
			checkOnePass(t, i, s, data)
		}
	})
}

// TestOnePassMatchesLibraryRandom compares the one-pass check with the
// library on random documents built from the schemas' own vocabulary, so
// most of them reach the rules (a uniform byte fuzzer rarely does).
func TestOnePassMatchesLibraryRandom(t *testing.T) {
	schemas := compileOnePassSchemas(t)
	rng := rand.New(rand.NewPCG(1, 2))
	n := 5000
	if testing.Short() {
		n = 500
	}
	for range n {
		data := []byte(randomDoc(rng, 0))
		for i, s := range schemas {
			checkOnePass(t, i, s, data)
		}
	}
}

var (
	randKeys    = []string{"email", "name", "age", "n", "i", "e", "c", "a", "b", "$b", "x.y", "z", "s", "k", "q", `\u0061`, "k1", "k2", "k3"}
	randStrings = []string{"", "a", "ab", "abcd", "ada@example.com", "a..b@x.y", `\"q\"@b.c`, "x@[::1]", "é", `\u00e9`, `\ud83d\ude00`, `\u0000`, "\u0085", `\ud800`, strings.Repeat("n", 101), "a@" + strings.Repeat("d", 64) + ".com", "user@-x.com",
		".a@b.co", "a.@b.co", "@b.co", "a.b@c.d", "a@b..c", "a@b-.c", "a@b.c.", "a@.", "a@", "a@b", "a@" + strings.Repeat("d", 63) + ".com", "a@[1.2.3.4]", "a@[01.2.3.4]", "a@[IPv6:::1]", "a!#$%&'*+-/=?^_`{|}~@b.c", "a b@c.d"}
	randNumbers = []string{"0", "-0", "1", "2.5", "2.50", "36", "36.0", "150", "150.5", "151", "-1.5", "-1.6", "100", "99.999", "1e2", "1E+30", "1e30", "1e400", "-1e-400", "0.1", "1e-1", "12345678901234567890123", "12345678901234567890123.0", "9223372036854775808", "1.5e1", "1e401", "1e1000000", "-2E-0401",
		"-1", "-3", "149", "999999999999999999", "-999999999999999999", "1000000000000000000", "0.0", "-0.0", "12", "1.0e2"}
)

func randomDoc(rng *rand.Rand, depth int) string {
	switch k := rng.IntN(10); {
	case depth < 4 && k < 3:
		var b strings.Builder
		b.WriteByte('{')
		for i := range rng.IntN(5) {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`"` + randKeys[rng.IntN(len(randKeys))] + `":` + randomDoc(rng, depth+1))
		}
		b.WriteByte('}')
		return b.String()
	case depth < 4 && k < 5:
		var b strings.Builder
		b.WriteByte('[')
		for i := range rng.IntN(5) {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(randomDoc(rng, depth+1))
		}
		b.WriteByte(']')
		return b.String()
	case k < 7:
		return `"` + randStrings[rng.IntN(len(randStrings))] + `"`
	case k < 9:
		return randNumbers[rng.IntN(len(randNumbers))]
	}
	return []string{"true", "false", "null", "tru", strconv.Itoa(rng.IntN(3))}[rng.IntN(5)]
}

// Numbers beyond the parser's bounds are rejected before any schema
// check: exact comparison of 1e1000000 would cost math/big ~0.1 s each.
func TestNumberRange(t *testing.T) {
	s, err := CompileSchema("s", []byte(usersSchema), true)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		num string
		ok  bool
	}{
		{"36", true}, {"1e2", true}, {"-1.5E-400", true}, {"1e+400", true}, {"1e401", false},
		{"1e1000000", false}, {"-2E-0401", false}, {"1" + strings.Repeat("0", 399), true}, {"1" + strings.Repeat("0", 400), false},
	} {
		t.Run(tc.num, func(t *testing.T) {
			_, fes := ParseJSON([]byte(`{"n":`+tc.num+`}`), Limits{})
			if tc.ok != (fes == nil) {
				t.Fatalf("accepted %v, want %v (%v)", fes == nil, tc.ok, fes)
			}
			if !tc.ok && (fes[0].Rule != "numberRange" || fes[0].Field != "/n" || strings.Contains(fes[0].Message, tc.num)) {
				t.Fatalf("error %+v", fes[0])
			}
			body := []byte(`{"email":"a@b.co","name":"x","age":` + tc.num + `}`)
			if !tc.ok && s.fast.accepts(body, DefaultLimits) {
				t.Fatal("the one-pass check accepted it")
			}
		})
	}
}
