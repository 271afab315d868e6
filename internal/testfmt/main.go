// Command testfmt reads `go test -json` on stdin and prints, as each
// package finishes, its result line (ok / FAIL / no test files) and the
// output of its failing tests, so a long run shows progress package by
// package instead of staying silent until the slowest package is done.
// It exits 1 if any package or test failed or did not build.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action     string
	Package    string
	Test       string
	Elapsed    float64
	Output     string
	ImportPath string
}

func main() {
	if !format(os.Stdin, os.Stdout) {
		os.Exit(1)
	}
}

// format copies the summary of the `go test -json` stream in to out and
// reports whether everything passed.
func format(r io.Reader, w io.Writer) bool {
	failed := false
	// output per package and per package/test, printed only on failure
	pkgOut := map[string]*strings.Builder{}
	testOut := map[string]*strings.Builder{}
	buildOut := map[string]*strings.Builder{}
	add := func(m map[string]*strings.Builder, k, s string) {
		b := m[k]
		if b == nil {
			b = new(strings.Builder)
			m[k] = b
		}
		b.WriteString(s)
	}
	in := bufio.NewScanner(r)
	in.Buffer(make([]byte, 1<<20), 64<<20)
	for in.Scan() {
		line := in.Bytes()
		var e event
		if err := json.Unmarshal(line, &e); err != nil || e.Action == "" {
			// not an event (e.g. a vet or linker message): pass it on
			fmt.Fprintln(w, string(line))
			continue
		}
		key := e.Package + " " + e.Test
		switch e.Action {
		case "build-output":
			add(buildOut, e.ImportPath, e.Output)
		case "build-fail":
			failed = true
			fmt.Fprint(w, buildOut[e.ImportPath])
		case "output":
			if e.Test != "" {
				add(testOut, key, e.Output)
			} else {
				add(pkgOut, e.Package, e.Output)
			}
		case "fail":
			failed = true
			if e.Test != "" {
				// the test's own output ends with its "--- FAIL" line
				fmt.Fprintf(w, "%s: %s", e.Package, testOut[key])
				delete(testOut, key)
				continue
			}
			// go test's own summary ("FAIL\tpkg\t1.2s") is in the output
			if out := pkgOut[e.Package]; out != nil && out.Len() > 0 {
				fmt.Fprint(w, out)
			} else {
				fmt.Fprintf(w, "FAIL\t%s\t%.3fs\n", e.Package, e.Elapsed)
			}
			delete(pkgOut, e.Package)
		case "pass", "skip":
			if e.Test != "" {
				delete(testOut, key)
				continue
			}
			status := "ok  "
			note := ""
			if out := pkgOut[e.Package]; out != nil && strings.Contains(out.String(), "no test files") {
				status, note = "?   ", "\t[no test files]"
			}
			fmt.Fprintf(w, "%s\t%s\t%.3fs%s\n", status, e.Package, e.Elapsed, note)
			delete(pkgOut, e.Package)
		}
	}
	if err := in.Err(); err != nil {
		fmt.Fprintln(w, "testfmt:", err)
		failed = true
	}
	return !failed
}
