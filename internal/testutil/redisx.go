package testutil

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// RedisCommand sends one command to the redis-server on 127.0.0.1:port
// and returns its reply as text (the first line for simple replies, the
// bulk string for bulk replies). It is for test setup (CLUSTER ADDSLOTS,
// INFO, CONFIG SET), not a client.
func RedisCommand(t testing.TB, port int, args ...string) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 2*time.Second)
	if err != nil {
		t.Fatalf("redis command %v: %v", args, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := conn.Write([]byte(b.String())); err != nil {
		t.Fatalf("redis command %v: %v", args, err)
	}
	rd := bufio.NewReader(conn)
	line, err := rd.ReadString('\n')
	if err != nil {
		t.Fatalf("redis command %v: %v", args, err)
	}
	line = strings.TrimRight(line, "\r\n")
	if strings.HasPrefix(line, "$") {
		n, _ := strconv.Atoi(line[1:])
		if n < 0 {
			return ""
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(rd, buf); err != nil {
			t.Fatalf("redis command %v: %v", args, err)
		}
		return string(buf[:n])
	}
	return line
}

// StartRedisArgs is StartRedis with extra redis-server arguments (e.g.
// "--requirepass", "s3cret" or "--cluster-enabled", "yes").
func StartRedisArgs(t testing.TB, extra ...string) *Redis {
	t.Helper()
	path := redisServer(t)
	r := &Redis{Port: FreePort(t), dir: t.TempDir(), extra: extra}
	t.Cleanup(r.Stop)
	r.start(t, path)
	return r
}

// StartRedisCluster starts a one-node Redis Cluster (cluster mode, all
// 16384 slots on the node) and waits until the cluster state is ok.
func StartRedisCluster(t testing.TB) *Redis {
	t.Helper()
	r := StartRedisArgs(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
	if reply := RedisCommand(t, r.Port, "CLUSTER", "ADDSLOTSRANGE", "0", "16383"); reply != "+OK" {
		t.Fatalf("CLUSTER ADDSLOTSRANGE: %s", reply)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Contains(RedisCommand(t, r.Port, "CLUSTER", "INFO"), "cluster_state:ok") {
			return r
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("redis cluster did not reach cluster_state:ok")
	return nil
}

// StartRedisSentinel starts a Sentinel (redis-server --sentinel) that
// monitors master under the name "mymaster" and returns its port. It is
// stopped when the test ends.
func StartRedisSentinel(t testing.TB, master *Redis) int {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal("redis-server not found: apt-get install -y redis-server")
	}
	port := FreePort(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "sentinel.conf")
	body := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor mymaster 127.0.0.1 %d 1\nsentinel down-after-milliseconds mymaster 5000\n", port, dir, master.Port)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path, conf, "--sentinel")
	var log SyncBuffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sentinel: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 200*time.Millisecond); err == nil {
			conn.Close()
			if strings.Contains(RedisCommand(t, port, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster"), "*2") {
				return port
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("sentinel did not start:\n%s", log.String())
	return 0
}
