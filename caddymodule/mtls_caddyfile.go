package caddymodule

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/apigw/caddy-apigw/authn"
)

func init() {
	registerGatewayHandlerDirective("apigw_mtls", parseMTLSCaddyfile)
}

// parseMTLSCaddyfile sets up the apigw_mtls directive. Syntax:
//
//	apigw_mtls [<matcher>] {
//	    user_from <field...>            # default cn; fields: cn subject o ou san_dns san_uri san_email spiffe_id
//	    grant <field> <glob> {          # repeatable
//	        scopes <scope...>
//	        roles <role...>
//	    }
//	    user_header <header>|-
//	    claim_header <claim> <header>
//	}
func parseMTLSCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(MTLSAuth)
	d := h.Dispenser
	err := parseProviderBlock(h, "apigw_mtls", &m.IdentityHeaders, func(opt string) error {
		switch opt {
		case "user_from":
			fs := d.RemainingArgs()
			if len(fs) == 0 {
				return d.ArgErr()
			}
			m.UserFrom = append(m.UserFrom, fs...)
		case "grant":
			g, err := parseMTLSGrant(d)
			if err != nil {
				return err
			}
			m.Grants = append(m.Grants, g)
		default:
			return d.Errf("unknown apigw_mtls option %q (known: user_from grant user_header claim_header)", opt)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if _, err := authn.NewCertMapper(m.UserFrom, m.Grants); err != nil {
		return nil, h.Errf("apigw_mtls: %v", err)
	}
	return authProvider("apigw_mtls", m), nil
}

// parseMTLSGrant reads `grant <field> <glob> { scopes …; roles … }`.
func parseMTLSGrant(d *caddyfile.Dispenser) (MTLSGrant, error) {
	var g MTLSGrant
	if !d.Args(&g.Field, &g.Pattern) || d.NextArg() {
		return g, d.Errf("grant needs <field> <glob> and a block, e.g. grant spiffe_id spiffe://example.org/billing/* { scopes billing }")
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		args := d.RemainingArgs()
		switch opt {
		case "scopes":
			g.Scopes = append(g.Scopes, args...)
		case "roles":
			g.Roles = append(g.Roles, args...)
		default:
			return g, d.Errf("unknown grant option %q (known: scopes roles)", opt)
		}
		if len(args) == 0 {
			return g, d.ArgErr()
		}
	}
	return g, nil
}
