package caddymodule

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"
)

func init() {
	registerGatewayHandlerDirective("apigw_http_signature", parseHTTPSignatureCaddyfile)
}

// parseHTTPSignatureCaddyfile sets up the apigw_http_signature directive.
// Syntax:
//
//	apigw_http_signature [<matcher>] {
//	    key <key id> {
//	        algorithm ed25519|ecdsa-p256-sha256|rsa-pss-sha512|hmac-sha256
//	        public_key_file <pem file>
//	        public_key <PEM text or base64 DER SPKI>
//	        jwk <JSON Web Key>
//	        secret <hmac secret, >= 32 bytes; {env.X}>
//	        user <id>
//	        scopes <scope...>
//	        roles <role...>
//	        metadata <name> <value>
//	    }
//	    jwks_file <path>
//	    jwks_url <url>
//	    jwks_allow_insecure_loopback
//	    label <label>
//	    required_components <component...>|none
//	    required_with_query <component...>|none
//	    required_with_body <component...>|none
//	    tolerance <duration>
//	    require_nonce
//	    allow_repeat_without_nonce
//	    max_body <size>
//	    max_header_size <size>
//	    pass_headers
//	    user_header <header>|-
//	    claim_header <claim> <header>
//	}
func parseHTTPSignatureCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	a := new(HTTPSignatureAuth)
	if err := parseProviderBlock(h, "apigw_http_signature", &a.IdentityHeaders, func(opt string) error {
		return a.unmarshalOption(h.Dispenser, opt)
	}); err != nil {
		return nil, err
	}
	s, _ := a.settings(nil)
	if err := s.Check(); err != nil {
		return nil, h.Errf("apigw_http_signature: %v", err)
	}
	return authProvider("apigw_http_signature", a), nil
}

// unmarshalOption reads one option of apigw_http_signature's block.
func (a *HTTPSignatureAuth) unmarshalOption(d *caddyfile.Dispenser, opt string) error {
	switch opt {
	case "key":
		k, err := parseHTTPSignatureKey(d)
		if err != nil {
			return err
		}
		a.Keys = append(a.Keys, k)
	case "jwks_file":
		if !d.AllArgs(&a.JWKSFile) {
			return d.ArgErr()
		}
	case "jwks_url":
		if !d.AllArgs(&a.JWKSURL) {
			return d.ArgErr()
		}
	case "jwks_allow_insecure_loopback":
		if d.NextArg() {
			return d.ArgErr()
		}
		a.JWKSAllowInsecureLoopback = true
	case "label":
		if !d.AllArgs(&a.Label) {
			return d.ArgErr()
		}
	case "required_components", "required_with_query", "required_with_body":
		list, err := parseComponentList(d, opt)
		if err != nil {
			return err
		}
		switch opt {
		case "required_components":
			a.RequiredComponents = list
		case "required_with_query":
			a.RequiredWithQuery = list
		default:
			a.RequiredWithBody = list
		}
	case "tolerance":
		var v string
		if !d.AllArgs(&v) {
			return d.ArgErr()
		}
		dur, err := caddy.ParseDuration(v)
		if err != nil || dur <= 0 {
			return d.Errf("apigw_http_signature: tolerance %q: want a positive duration such as 300s", v)
		}
		a.Tolerance = caddy.Duration(dur)
	case "require_nonce":
		if d.NextArg() {
			return d.ArgErr()
		}
		a.RequireNonce = true
	case "allow_repeat_without_nonce":
		if d.NextArg() {
			return d.ArgErr()
		}
		a.AllowRepeatWithoutNonce = true
	case "max_body", "max_header_size":
		var v string
		if !d.AllArgs(&v) {
			return d.ArgErr()
		}
		n, err := humanize.ParseBytes(v)
		if err != nil || n == 0 || n > 1<<40 {
			return d.Errf("apigw_http_signature: %s %q: want a size such as 1MiB", opt, v)
		}
		if opt == "max_body" {
			a.MaxBody = int64(n)
		} else {
			a.MaxHeaderSize = int(n)
		}
	case "pass_headers":
		if d.NextArg() {
			return d.ArgErr()
		}
		a.PassHeaders = true
	default:
		return d.Errf("apigw_http_signature: unknown option %q (known: key jwks_file jwks_url jwks_allow_insecure_loopback label required_components required_with_query required_with_body tolerance require_nonce allow_repeat_without_nonce max_body max_header_size pass_headers user_header claim_header)", opt)
	}
	return nil
}

// parseComponentList reads `<option> <component...>|none`; none gives an
// empty, non-nil list (nothing required).
func parseComponentList(d *caddyfile.Dispenser, opt string) ([]string, error) {
	args := d.RemainingArgs()
	if len(args) == 0 {
		return nil, d.Errf("apigw_http_signature: %s needs components (e.g. @method @path content-digest) or none", opt)
	}
	if len(args) == 1 && args[0] == "none" {
		return []string{}, nil
	}
	return args, nil
}

// parseHTTPSignatureKey reads `key <id> { … }`.
func parseHTTPSignatureKey(d *caddyfile.Dispenser) (HTTPSignatureKey, error) {
	var k HTTPSignatureKey
	if !d.AllArgs(&k.ID) {
		return k, d.Errf("apigw_http_signature: key needs <key id> and a block")
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch opt := d.Val(); opt {
		case "algorithm":
			if !d.AllArgs(&k.Algorithm) {
				return k, d.ArgErr()
			}
		case "public_key_file":
			if !d.AllArgs(&k.PublicKeyFile) {
				return k, d.ArgErr()
			}
		case "public_key":
			if !d.AllArgs(&k.PublicKey) {
				return k, d.ArgErr()
			}
		case "jwk":
			if !d.AllArgs(&k.JWK) {
				return k, d.ArgErr()
			}
		case "secret":
			if !d.AllArgs(&k.Secret) {
				return k, d.ArgErr()
			}
		case "user":
			if !d.AllArgs(&k.User) {
				return k, d.ArgErr()
			}
		case "scopes":
			k.Scopes = append(k.Scopes, d.RemainingArgs()...)
		case "roles":
			k.Roles = append(k.Roles, d.RemainingArgs()...)
		case "metadata":
			var name, val string
			if !d.AllArgs(&name, &val) {
				return k, d.Errf("apigw_http_signature: metadata needs <name> <value>")
			}
			if k.Metadata == nil {
				k.Metadata = map[string]string{}
			}
			k.Metadata[name] = val
		default:
			return k, d.Errf("apigw_http_signature: unknown key option %q (known: algorithm public_key_file public_key jwk secret user scopes roles metadata)", opt)
		}
	}
	return k, nil
}
