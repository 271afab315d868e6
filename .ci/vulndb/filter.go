//go:build ignore

// filter.go refreshes .ci/vulndb/osv.tar.gz, the offline snapshot of the Go
// vulnerability database that .ci/run gives govulncheck when the database's
// own host cannot be reached (CI machines reach only package registries).
//
// It copies from a checkout of the Go vulnerability database repository
// (github.com/golang/vulndb, directory data/osv: one OSV JSON file per
// GO-YYYY-NNNN entry) every entry that affects the standard library, the Go
// toolchain or a module in this repository's module graph (`go list -m
// all`), and writes SNAPSHOT (the database commit date and the number of
// entries). .ci/run unpacks the archive (a directory osv/ of those files)
// and govulncheck reads such a flat directory with `-db file://<dir>/osv`.
// Run from the repository root:
//
//	go run .ci/vulndb/filter.go <vulndb checkout>/data/osv "<commit date>"
package main

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

func main() {
	if len(os.Args) != 3 {
		log.Fatal("usage: go run .ci/vulndb/filter.go <vulndb>/data/osv <snapshot date>")
	}
	src, date := os.Args[1], os.Args[2]
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Path}}", "all").Output()
	if err != nil {
		log.Fatalf("go list -m all: %v", err)
	}
	want := map[string]bool{"stdlib": true, "toolchain": true}
	for _, m := range strings.Fields(string(out)) {
		want[m] = true
	}
	dst, err := os.Create(filepath.Join(".ci", "vulndb", "osv.tar.gz"))
	if err != nil {
		log.Fatal(err)
	}
	zw := gzip.NewWriter(dst)
	tw := tar.NewWriter(zw)
	files, err := filepath.Glob(filepath.Join(src, "GO-*.json"))
	if err != nil || len(files) == 0 {
		log.Fatalf("no GO-*.json entries in %s (%v)", src, err)
	}
	var kept []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			log.Fatal(err)
		}
		var e struct {
			ID       string `json:"id"`
			Affected []struct {
				Package struct {
					Name string `json:"name"`
				} `json:"package"`
			} `json:"affected"`
		}
		if err := json.Unmarshal(b, &e); err != nil {
			log.Fatalf("%s: %v", f, err)
		}
		for _, a := range e.Affected {
			if want[a.Package.Name] {
				hdr := &tar.Header{Name: "osv/" + filepath.Base(f), Mode: 0o644, Size: int64(len(b)), Format: tar.FormatPAX}
				if err := tw.WriteHeader(hdr); err != nil {
					log.Fatal(err)
				}
				if _, err := tw.Write(b); err != nil {
					log.Fatal(err)
				}
				kept = append(kept, e.ID)
				break
			}
		}
	}
	for _, c := range []interface{ Close() error }{tw, zw, dst} {
		if err := c.Close(); err != nil {
			log.Fatal(err)
		}
	}
	sort.Strings(kept)
	mods := make([]string, 0, len(want))
	for m := range want {
		mods = append(mods, m)
	}
	sort.Strings(mods)
	snapshot := fmt.Sprintf("Go vulnerability database snapshot of %s: %d of %d entries kept\n"+
		"(those affecting stdlib, toolchain or one of the %d modules below). Data: CC-BY 4.0, see LICENSE.\n\n%s\n",
		date, len(kept), len(files), len(mods)-2, strings.Join(mods, "\n"))
	if err := os.WriteFile(filepath.Join(".ci", "vulndb", "SNAPSHOT"), []byte(snapshot), 0o644); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("kept %d of %d entries\n", len(kept), len(files))
}
