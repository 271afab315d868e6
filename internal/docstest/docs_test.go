// Package docstest holds the test that keeps the documentation true: every
// Caddyfile example in the README and the guide is formatted as `caddy fmt`
// would leave it and adapts with this repository's modules.
package docstest

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/apigw/caddy-apigw"
	"github.com/apigw/caddy-apigw/internal/testutil"
)

// block is one fenced ```caddyfile block of a Markdown file.
type block struct {
	file string
	line int // line of the opening fence
	body string
}

// docFiles are the Markdown files whose Caddyfile blocks are checked.
func docFiles(t *testing.T) []string {
	root := testutil.RepoRoot()
	files := []string{filepath.Join(root, "README.md")}
	more, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, more...)
	bench := filepath.Join(root, "bench", "README.md")
	if _, err := os.Stat(bench); err == nil {
		files = append(files, bench)
	}
	return files
}

// caddyfileBlocks returns the ```caddyfile blocks of a Markdown file. A
// block fenced ```caddyfile sketch (one with … placeholders) is skipped.
func caddyfileBlocks(t *testing.T, path string) []block {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		out    []block
		cur    *block
		body   strings.Builder
		lineNo int
	)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case cur == nil && strings.HasPrefix(trimmed, "```"):
			info := strings.Fields(strings.TrimPrefix(trimmed, "```"))
			if len(info) == 1 && info[0] == "caddyfile" {
				cur = &block{file: filepath.Base(path), line: lineNo}
				body.Reset()
			} else if len(info) > 0 {
				// another language, or "caddyfile sketch": skip to its end
				cur = &block{line: -1}
			}
		case cur != nil && trimmed == "```":
			if cur.line > 0 {
				cur.body = body.String()
				out = append(out, *cur)
			}
			cur = nil
		case cur != nil && cur.line > 0:
			body.WriteString(line)
			body.WriteByte('\n')
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// isWholeCaddyfile tells a complete Caddyfile (global options or a site
// address first) from a fragment that belongs inside a site block.
func isWholeCaddyfile(body string) bool {
	for _, line := range strings.Split(body, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		first := strings.Fields(line)[0]
		if first == "{" || strings.HasPrefix(first, "(") {
			return true
		}
		addr := strings.TrimSuffix(first, ",")
		return strings.Contains(addr, "://") || strings.HasPrefix(addr, ":") ||
			strings.Contains(addr, ".") || strings.HasPrefix(addr, "localhost") ||
			strings.HasPrefix(addr, "{$")
	}
	return false
}

// isGlobalFragment is a fragment of the global options block (our apigw
// app options, or Caddy's own global options shown alone).
func isGlobalFragment(body string) bool {
	for _, line := range strings.Split(body, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		first := strings.Fields(line)[0]
		return first == "apigw" || first == "servers" || first == "admin" || first == "order"
	}
	return false
}

func indent(body string) string {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimRight(body, "\n"), "\n") {
		if line != "" {
			b.WriteByte('\t')
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.String()
}

// TestDocsCaddyfileBlocks checks every ```caddyfile block of README.md,
// docs/*.md and bench/README.md: `caddy fmt` leaves it unchanged, and it
// adapts (a fragment inside a site whose top level holds apigw_edge, a
// global-options fragment inside the global block).
func TestDocsCaddyfileBlocks(t *testing.T) {
	adapter := caddyconfig.GetAdapter("caddyfile")
	if adapter == nil {
		t.Fatal("caddyfile adapter not registered")
	}
	// the examples read secrets from the environment
	for _, k := range []string{"JWT_SECRET", "SIGNING_SECRET", "APIGW_JWT_SECRET", "REDIS_PASSWORD"} {
		if os.Getenv(k) == "" {
			t.Setenv(k, "doc-test-secret-0123456789abcdef0123456789abcdef0123456789abcdef")
		}
	}
	total := 0
	for _, path := range docFiles(t) {
		for _, b := range caddyfileBlocks(t, path) {
			total++
			b := b
			t.Run(b.file+":"+strconv.Itoa(b.line), func(t *testing.T) {
				formatted := caddyfile.Format([]byte(b.body))
				if !bytes.Equal(bytes.TrimRight(formatted, "\n"), bytes.TrimRight([]byte(b.body), "\n")) {
					t.Errorf("%s:%d: caddy fmt changes this block; formatted it reads:\n%s", b.file, b.line, formatted)
				}
				src := b.body
				switch {
				case isWholeCaddyfile(src):
				case isGlobalFragment(src):
					src = "{\n" + indent(src) + "}\n"
				default:
					// the site around a fragment carries the request
					// hardening at its top, as every real site does
					src = ":8080 {\n\tapigw_edge\n" + indent(src) + "}\n"
				}
				if _, _, err := adapter.Adapt([]byte(src), map[string]any{"filename": b.file}); err != nil {
					t.Errorf("%s:%d: caddy adapt fails: %v\n--- adapted as:\n%s", b.file, b.line, err, src)
				}
			})
		}
	}
	if total == 0 {
		t.Fatal("no ```caddyfile block found: the extraction is broken")
	}
}
