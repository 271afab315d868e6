// Package testutil starts the real processes caddy-apigw's integration
// tests need: the gateway binary (this repository's Caddy), redis-server,
// and Node scripts (the npm jose package mints third-party tokens).
package testutil

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// RepoRoot returns the repository root (the directory holding go.mod).
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// FreePort returns a free TCP port on 127.0.0.1.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// CaddyBinary builds this repository's Caddy (standard modules plus
// caddy-apigw) once per test process and returns its path. Set
// APIGW_CADDY_BIN to use a prebuilt binary (e.g. the one xcaddy.sh made).
func CaddyBinary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("APIGW_CADDY_BIN"); p != "" {
		return p
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "apigw-caddy-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "caddy")
		args := []string{"build", "-o", buildPath}
		if os.Getenv("APIGW_RACE") != "" {
			args = append(args, "-race")
		}
		args = append(args, "./internal/caddycmd")
		cmd := exec.Command("go", args...)
		cmd.Dir = RepoRoot()
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build caddy: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

// Caddy is a running gateway process.
type Caddy struct {
	// HTTPPort is the gateway's port (APIGW_HTTP_PORT).
	HTTPPort int
	// UpstreamPort is the demo upstream's port (APIGW_UPSTREAM_PORT).
	UpstreamPort int
	// AdminAddr is the admin endpoint (APIGW_ADMIN), host:port.
	AdminAddr string
	// Env is the environment the process was started with.
	Env []string
	// Log collects the process's stderr and stdout (Caddy logs JSON there).
	Log *SyncBuffer

	cmd    *exec.Cmd
	config string
}

// URL returns the gateway URL of path.
func (c *Caddy) URL(path string) string {
	return "http://127.0.0.1:" + strconv.Itoa(c.HTTPPort) + path
}

// AdminURL returns the admin endpoint URL of path.
func (c *Caddy) AdminURL(path string) string { return "http://" + c.AdminAddr + path }

// Options configure StartCaddy.
type Options struct {
	// Config is the path of a Caddyfile; default: Caddyfile.example.
	Config string
	// Env adds environment variables (KEY=VALUE).
	Env []string
	// HTTPPort, UpstreamPort, AdminPort: 0 picks free ports. When
	// UpstreamPort is set to -1 the demo upstream's port is left at a free
	// port too but APIGW_JWKS_URL/APIGW_JWT_ISSUER are not derived from it.
	HTTPPort, UpstreamPort, AdminPort int
}

// StartCaddy runs `caddy run` on the demo Caddyfile (or opts.Config) with
// free ports and waits until the gateway answers. The process is stopped
// when the test ends; its log is printed if the test failed.
func StartCaddy(t testing.TB, opts Options) *Caddy {
	t.Helper()
	if opts.Config == "" {
		opts.Config = filepath.Join(RepoRoot(), "Caddyfile.example")
	}
	c := &Caddy{HTTPPort: opts.HTTPPort, UpstreamPort: opts.UpstreamPort, Log: new(SyncBuffer), config: opts.Config}
	if c.HTTPPort == 0 {
		c.HTTPPort = FreePort(t)
	}
	if c.UpstreamPort <= 0 {
		c.UpstreamPort = FreePort(t)
	}
	adminPort := opts.AdminPort
	if adminPort == 0 {
		adminPort = FreePort(t)
	}
	c.AdminAddr = "127.0.0.1:" + strconv.Itoa(adminPort)
	up := "http://127.0.0.1:" + strconv.Itoa(c.UpstreamPort)
	c.Env = append(os.Environ(),
		"APIGW_HTTP_PORT="+strconv.Itoa(c.HTTPPort),
		"APIGW_UPSTREAM_PORT="+strconv.Itoa(c.UpstreamPort),
		"APIGW_ADMIN="+c.AdminAddr,
		"HOME="+t.TempDir(), // Caddy's storage and autosave stay per test
		"XDG_DATA_HOME="+t.TempDir(),
		"XDG_CONFIG_HOME="+t.TempDir(),
	)
	if opts.UpstreamPort != -1 {
		c.Env = append(c.Env, "APIGW_JWKS_URL="+up+"/.well-known/jwks.json", "APIGW_JWT_ISSUER="+up)
	}
	c.Env = append(c.Env, opts.Env...)
	c.start(t)
	t.Cleanup(func() {
		c.Stop()
		if t.Failed() {
			t.Logf("caddy log:\n%s", c.Log.String())
		}
	})
	return c
}

func (c *Caddy) start(t testing.TB) {
	t.Helper()
	c.cmd = exec.Command(CaddyBinary(t), "run", "--config", c.config, "--adapter", "caddyfile")
	c.cmd.Env = c.Env
	c.cmd.Stdout = c.Log
	c.cmd.Stderr = c.Log
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start caddy: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			t.Fatalf("caddy exited during start:\n%s", c.Log.String())
		default:
		}
		resp, err := http.Get(c.AdminURL("/config/"))
		if err == nil {
			resp.Body.Close()
			if conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(c.HTTPPort), time.Second); err == nil {
				conn.Close()
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("caddy did not start in time:\n%s", c.Log.String())
}

// Stop ends the process (SIGINT, then SIGKILL after 5 s).
func (c *Caddy) Stop() {
	if c.cmd == nil || c.cmd.Process == nil {
		return
	}
	_ = c.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _, _ = c.cmd.Process.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = c.cmd.Process.Kill()
	}
	c.cmd = nil
}

// Restart stops and starts the process again with the same config.
func (c *Caddy) Restart(t testing.TB) {
	t.Helper()
	c.Stop()
	c.start(t)
}

// SyncBuffer is a bytes.Buffer safe for concurrent writers.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write implements io.Writer.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Redis is a running redis-server.
type Redis struct {
	// Port is the server's port on 127.0.0.1.
	Port  int
	cmd   *exec.Cmd
	dir   string
	extra []string // redis-server arguments after the defaults, kept on Restart
}

// URL returns redis://127.0.0.1:port/db.
func (r *Redis) URL(db int) string {
	return "redis://127.0.0.1:" + strconv.Itoa(r.Port) + "/" + strconv.Itoa(db)
}

// StartRedis starts a real redis-server on a free loopback port (no
// persistence) and stops it when the test ends. It fails the test if
// redis-server is not installed (.ci/run installs it); set
// APIGW_SKIP_REDIS=1 to skip such tests instead on a machine without it.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	return StartRedisArgs(t)
}

// redisServer returns the path of redis-server, or ends the test (skips it
// with APIGW_SKIP_REDIS set).
func redisServer(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("APIGW_SKIP_REDIS") != "" {
			t.Skip("redis-server not installed and APIGW_SKIP_REDIS set")
		}
		t.Fatal("redis-server not found: apt-get install -y redis-server (.ci/run does)")
	}
	return path
}

// start runs the server and waits until it answers PING (+PONG, or
// -NOAUTH when started with --requirepass).
func (r *Redis) start(t testing.TB, path string) {
	t.Helper()
	args := []string{"--port", strconv.Itoa(r.Port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", r.dir}
	r.cmd = exec.Command(path, append(args, r.extra...)...)
	var log SyncBuffer
	r.cmd.Stdout, r.cmd.Stderr = &log, &log
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("start redis: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(r.Port), 200*time.Millisecond); err == nil {
			conn.Write([]byte("PING\r\n"))
			buf := make([]byte, 16)
			conn.SetReadDeadline(time.Now().Add(time.Second))
			n, _ := conn.Read(buf)
			conn.Close()
			if reply := string(buf[:n]); strings.HasPrefix(reply, "+PONG") || strings.HasPrefix(reply, "-NOAUTH") {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("redis did not start:\n%s", log.String())
}

// Stop kills the server (its data is gone: no persistence).
func (r *Redis) Stop() {
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Kill()
		_, _ = r.cmd.Process.Wait()
		r.cmd = nil
	}
}

// Restart starts the server again on the same port.
func (r *Redis) Restart(t testing.TB) {
	t.Helper()
	r.Stop()
	r.start(t, redisServer(t))
}

// NodeDir is the directory holding the test scripts' package.json
// (testdata/js); .ci/run runs `npm ci` there.
func NodeDir() string { return filepath.Join(RepoRoot(), "internal", "testutil", "js") }

// Node runs `node script args...` in NodeDir and returns trimmed stdout.
// It fails the test if node or the npm packages are missing, naming the
// command that installs them.
func Node(t testing.TB, script string, args ...string) string {
	t.Helper()
	if _, err := os.Stat(filepath.Join(NodeDir(), "node_modules")); err != nil {
		t.Fatalf("npm packages missing: run `npm ci --prefix %s` (.ci/run does)", NodeDir())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", append([]string{script}, args...)...)
	cmd.Dir = NodeDir()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node %s: %v\n%s", script, err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}
