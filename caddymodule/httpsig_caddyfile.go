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
	words := map[string]*string{"jwks_file": &a.JWKSFile, "jwks_url": &a.JWKSURL, "label": &a.Label}
	flags := map[string]*bool{"jwks_allow_insecure_loopback": &a.JWKSAllowInsecureLoopback, "require_nonce": &a.RequireNonce,
		"allow_repeat_without_nonce": &a.AllowRepeatWithoutNonce, "pass_headers": &a.PassHeaders}
	lists := map[string]*[]string{"required_components": &a.RequiredComponents, "required_with_query": &a.RequiredWithQuery,
		"required_with_body": &a.RequiredWithBody}
	switch {
	case opt == "key":
		k, err := parseHTTPSignatureKey(d)
		if err != nil {
			return err
		}
		a.Keys = append(a.Keys, k)
	case words[opt] != nil:
		if !d.AllArgs(words[opt]) {
			return d.ArgErr()
		}
	case flags[opt] != nil:
		if d.NextArg() {
			return d.ArgErr()
		}
		*flags[opt] = true
	case lists[opt] != nil:
		list, err := parseComponentList(d, opt)
		if err != nil {
			return err
		}
		*lists[opt] = list
	case opt == "tolerance":
		var v string
		if !d.AllArgs(&v) {
			return d.ArgErr()
		}
		dur, err := caddy.ParseDuration(v)
		if err != nil || dur <= 0 {
			return d.Errf("apigw_http_signature: tolerance %q: want a positive duration such as 300s", v)
		}
		a.Tolerance = caddy.Duration(dur)
	case opt == "max_body", opt == "max_header_size":
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
		words := map[string]*string{"algorithm": &k.Algorithm, "public_key_file": &k.PublicKeyFile,
			"public_key": &k.PublicKey, "jwk": &k.JWK, "secret": &k.Secret, "user": &k.User}
		switch opt := d.Val(); opt {
		case "algorithm", "public_key_file", "public_key", "jwk", "secret", "user":
			if !d.AllArgs(words[opt]) {
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
