package caddymodule

import (
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/apigw/caddy-apigw/internal/testutil"
	"github.com/apigw/caddy-apigw/secheaders"
)

// chainUpstream answers /s/<status> with that status and every header an
// upstream could use to grant CORS or leak itself, and /hints with a 103
// Early Hints (Link, plus what must not pass) before a 200.
func chainUpstream(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	leak := func(h http.Header) {
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Allow-Credentials", "true")
		h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE")
		h.Set("Access-Control-Allow-Headers", "*")
		h.Set("Access-Control-Expose-Headers", "X-Internal")
		h.Set("Access-Control-Max-Age", "86400")
		h.Set("Access-Control-Allow-Private-Network", "true")
		h.Set("Server", "upstream/1.0")
		h.Set("X-Powered-By", "Express")
		h.Set("X-Aspnet-Version", "4.0.30319")
		h.Set("Via", "1.1 internal-lb")
		h.Set("Set-Cookie", "upstream_session=s3cret; Path=/")
		h.Set("X-Debug-Token", "abc123")
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hints" {
			leak(w.Header())
			w.Header().Set("Link", "</app.css>; rel=preload; as=style")
			w.WriteHeader(http.StatusEarlyHints)
			for k := range w.Header() {
				delete(w.Header(), k)
			}
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, "final")
			return
		}
		status, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/s/"))
		if err != nil {
			status = http.StatusOK
		}
		leak(w.Header())
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, "upstream body: stack trace at /srv/app.js:12")
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

// chainCaddyfile is one gateway site per combination of the site-wide
// directives: the demo chain, and each directive alone.
const chainCaddyfile = `{
	admin {$APIGW_ADMIN}
	auto_https off
}
(proxied) {
	reverse_proxy 127.0.0.1:{$CHAIN_UPSTREAM}
}
http://127.0.0.1:{$APIGW_HTTP_PORT} {
	apigw_request_id
	apigw_cors {
		origins http://localhost:3000
		credentials
	}
	apigw_security_headers
	apigw_errors
	import proxied
}
http://127.0.0.1:{$PORT_REQUEST_ID} {
	apigw_request_id
	import proxied
}
http://127.0.0.1:{$PORT_CORS} {
	apigw_cors http://localhost:3000
	import proxied
}
http://127.0.0.1:{$PORT_SECURITY} {
	apigw_security_headers
	import proxied
}
http://127.0.0.1:{$PORT_ERRORS} {
	apigw_errors
	import proxied
}
`

// TestChainResponseRules drives the real binary: on every site that uses
// one of the site-wide directives, an upstream's Access-Control-* headers
// never reach the client, whatever the status (issue 17 class 7), and a
// 103 Early Hints passes with its Link header only (class 15).
func TestChainResponseRules(t *testing.T) {
	upPort := chainUpstream(t)
	cfg := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(cfg, []byte(chainCaddyfile), 0o600); err != nil {
		t.Fatal(err)
	}
	ports := map[string]int{}
	env := []string{"CHAIN_UPSTREAM=" + strconv.Itoa(upPort)}
	for _, s := range []string{"REQUEST_ID", "CORS", "SECURITY", "ERRORS"} {
		ports[s] = testutil.FreePort(t)
		env = append(env, "PORT_"+s+"="+strconv.Itoa(ports[s]))
	}
	c := testutil.StartCaddy(t, testutil.Options{Config: cfg, Env: env})
	ports["CHAIN"] = c.HTTPPort

	const allowed = "http://localhost:3000"
	for _, site := range []string{"CHAIN", "REQUEST_ID", "CORS", "SECURITY", "ERRORS"} {
		base := "http://127.0.0.1:" + strconv.Itoa(ports[site])
		scrubs := site == "CHAIN" || site == "ERRORS"
		grants := site == "CHAIN" || site == "CORS"
		for _, status := range []int{200, 404, 500, 502, 503} {
			for _, origin := range []string{"", allowed, "https://evil.test"} {
				t.Run(site+"/"+strconv.Itoa(status)+"/"+origin, func(t *testing.T) {
					req, _ := http.NewRequest("GET", base+"/s/"+strconv.Itoa(status), nil)
					if origin != "" {
						req.Header.Set("Origin", origin)
					}
					res, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					body, _ := io.ReadAll(res.Body)
					res.Body.Close()
					if res.StatusCode != status {
						t.Fatalf("status %d, want %d", res.StatusCode, status)
					}
					for k, v := range res.Header {
						if !secheaders.IsCORS(k) {
							continue
						}
						granted := grants && origin == allowed &&
							(k == "Access-Control-Allow-Origin" && len(v) == 1 && v[0] == allowed ||
								k == "Access-Control-Allow-Credentials" && site == "CHAIN" && len(v) == 1 && v[0] == "true" ||
								k == "Access-Control-Expose-Headers" && len(v) == 1 && !strings.Contains(v[0], "X-Internal"))
						if !granted {
							t.Errorf("%s: %q reached the client", k, v)
						}
					}
					if grants && origin == allowed && res.Header.Get("Access-Control-Allow-Origin") != allowed {
						t.Errorf("the gateway's own grant is missing: %v", res.Header)
					}
					if scrubs {
						for _, k := range []string{"Server", "X-Powered-By", "X-Aspnet-Version", "Via"} {
							if v := res.Header.Values(k); len(v) > 0 {
								t.Errorf("%s: %q reached the client", k, v)
							}
						}
					}
					if scrubs && status >= 500 {
						if strings.Contains(string(body), "stack trace") || res.Header.Get("Set-Cookie") != "" || res.Header.Get("X-Debug-Token") != "" {
							t.Errorf("scrubbed answer leaks: %v %s", res.Header, body)
						}
						if ct := res.Header.Get("Content-Type"); ct != "application/problem+json" {
							t.Errorf("Content-Type %q, want problem JSON", ct)
						}
					}
					if site == "CHAIN" || site == "SECURITY" {
						if res.Header.Get("X-Content-Type-Options") != "nosniff" {
							t.Errorf("security headers missing: %v", res.Header)
						}
					}
				})
			}
		}

		t.Run(site+"/103", func(t *testing.T) {
			var mu sync.Mutex
			var hints []textproto.MIMEHeader
			trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
				mu.Lock()
				defer mu.Unlock()
				if code == http.StatusEarlyHints {
					hints = append(hints, h)
				}
				return nil
			}}
			req, _ := http.NewRequest("GET", base+"/hints", nil)
			req.Header.Set("Origin", allowed)
			req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != 200 || string(body) != "final" {
				t.Fatalf("final answer %d %q", res.StatusCode, body)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(hints) != 1 {
				t.Fatalf("%d early hints reached the client, want 1", len(hints))
			}
			for k, v := range hints[0] {
				if k != "Link" {
					t.Errorf("103 carried %s: %q", k, v)
				}
			}
			if hints[0].Get("Link") != "</app.css>; rel=preload; as=style" {
				t.Errorf("103 lost its Link header: %v", hints[0])
			}
			if v := res.Header.Values("Set-Cookie"); len(v) > 0 {
				t.Errorf("the 103's Set-Cookie reached the final answer: %q", v)
			}
		})
	}
}
