package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	raceOnce sync.Once
	racePath string
	raceErr  error
)

// RaceCaddyBinary builds this repository's Caddy with the race detector
// once per test process and returns its path (APIGW_CADDY_RACE_BIN names
// a prebuilt one). Use it for one test with
// t.Setenv("APIGW_CADDY_BIN", testutil.RaceCaddyBinary(t)) before
// StartCaddy; a data race then makes the process print "WARNING: DATA
// RACE" to its log (see RaceReports).
func RaceCaddyBinary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("APIGW_CADDY_RACE_BIN"); p != "" {
		return p
	}
	raceOnce.Do(func() {
		dir, err := os.MkdirTemp("", "apigw-caddy-race-")
		if err != nil {
			raceErr = err
			return
		}
		racePath = filepath.Join(dir, "caddy")
		cmd := exec.Command("go", "build", "-race", "-o", racePath, "./internal/caddycmd")
		cmd.Dir = RepoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			raceErr = fmt.Errorf("go build -race caddy: %v\n%s", err, out)
		}
	})
	if raceErr != nil {
		t.Fatal(raceErr)
	}
	return racePath
}

// RaceReports returns how many data races a race-built process reported
// in log.
func RaceReports(log string) int { return strings.Count(log, "WARNING: DATA RACE") }
