package main

import (
	"strings"
	"testing"
)

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		ok       bool
		want     []string
		not      []string
	}{
		{
			name: "pass",
			in: `{"Action":"output","Package":"p","Test":"TestA","Output":"=== RUN   TestA\n"}
{"Action":"pass","Package":"p","Test":"TestA","Elapsed":0.1}
{"Action":"output","Package":"p","Output":"ok  \tp\t0.2s\n"}
{"Action":"pass","Package":"p","Elapsed":0.2}`,
			ok:   true,
			want: []string{"ok  \tp\t0.200s\n"},
			not:  []string{"=== RUN"},
		},
		{
			name: "failing test",
			in: `{"Action":"output","Package":"p","Test":"TestA","Output":"    a_test.go:3: boom\n"}
{"Action":"output","Package":"p","Test":"TestA","Output":"--- FAIL: TestA (0.00s)\n"}
{"Action":"fail","Package":"p","Test":"TestA","Elapsed":0}
{"Action":"output","Package":"p","Test":"TestB","Output":"quiet\n"}
{"Action":"pass","Package":"p","Test":"TestB","Elapsed":0}
{"Action":"output","Package":"p","Output":"FAIL\tp\t0.3s\n"}
{"Action":"fail","Package":"p","Elapsed":0.3}`,
			want: []string{"p:     a_test.go:3: boom\n--- FAIL: TestA", "FAIL\tp\t0.3s\n"},
			not:  []string{"quiet"},
		},
		{
			name: "build failure",
			in: `{"ImportPath":"p [p.test]","Action":"build-output","Output":"p/a_test.go:3: undefined: x\n"}
{"ImportPath":"p [p.test]","Action":"build-fail"}`,
			want: []string{"undefined: x"},
		},
		{
			name: "no test files and plain lines",
			in: `go: downloading example.com/m v1.0.0
{"Action":"output","Package":"q","Output":"?   \tq\t[no test files]\n"}
{"Action":"skip","Package":"q","Elapsed":0}`,
			ok:   true,
			want: []string{"go: downloading", "?   \tq\t0.000s\t[no test files]"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			if ok := format(strings.NewReader(tc.in), &out); ok != tc.ok {
				t.Fatalf("format = %v, want %v; output:\n%s", ok, tc.ok, out.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			for _, n := range tc.not {
				if strings.Contains(out.String(), n) {
					t.Errorf("output has %q:\n%s", n, out.String())
				}
			}
		})
	}
}
