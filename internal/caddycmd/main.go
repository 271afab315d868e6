// Command caddycmd is a Caddy with the standard modules and caddy-apigw,
// the same binary xcaddy.sh builds. Tests build it to run real Caddy
// processes without needing xcaddy or the network.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/apigw/caddy-apigw"
)

func main() {
	caddycmd.Main()
}
