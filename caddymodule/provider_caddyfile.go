package caddymodule

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"
)

// parseProviderBlock reads the directive of an authentication provider,
// `<name> [<matcher>] { … }`: it takes no arguments; user_header and
// claim_header go to ih, every other option to option (with h at the
// option's name).
func parseProviderBlock(h httpcaddyfile.Helper, name string, ih *IdentityHeaders, option func(opt string) error) error {
	h.Next() // consume directive name
	if h.NextArg() {
		return h.Errf("%s takes no arguments, only a block", name)
	}
	for h.NextBlock(0) {
		if ok, err := parseIdentityHeaderOption(h.Dispenser, ih); ok {
			if err != nil {
				return err
			}
			continue
		}
		if err := option(h.Val()); err != nil {
			return err
		}
	}
	return nil
}

// authProvider is Caddy's authentication handler with the one provider
// name configured by p.
func authProvider(name string, p any) caddyhttp.MiddlewareHandler {
	return caddyauth.Authentication{ProvidersRaw: caddy.ModuleMap{name: caddyconfig.JSON(p, nil)}}
}
