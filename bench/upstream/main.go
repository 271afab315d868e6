// Command upstream is the load benchmark's upstream API: it answers every
// request with the same small JSON document (like
// ../shared/peers/upstream), and serves a JWKS file at
// /.well-known/jwks.json so the gateway's /oidc route can verify tokens
// against it. Both the gateway and the Express peer proxy to it, so the
// benchmark compares the gateways, not the upstreams.
//
//	go run ./bench/upstream -addr 127.0.0.1:18000 -jwks examples/demo-keys/jwks.json
package main

import (
	"flag"
	"io"
	"log"
	"net/http"
	"os"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9000", "listen address")
	jwksFile := flag.String("jwks", "", "JWKS file served at /.well-known/jwks.json (optional)")
	flag.Parse()

	var jwks []byte
	if *jwksFile != "" {
		var err error
		if jwks, err = os.ReadFile(*jwksFile); err != nil {
			log.Fatalf("upstream: %v", err)
		}
	}
	body := []byte(`{"ok":true,"items":[1,2,3]}`)
	srv := &http.Server{
		Addr: *addr,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			if r.URL.Path == "/.well-known/jwks.json" && jwks != nil {
				_, _ = w.Write(jwks)
				return
			}
			_, _ = w.Write(body)
		}),
	}
	log.Fatal(srv.ListenAndServe())
}
