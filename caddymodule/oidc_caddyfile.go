package caddymodule

import (
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"

	"github.com/apigw/caddy-apigw/oidc"
	"github.com/apigw/caddy-apigw/sessions"
)

func init() {
	registerGatewayHandlerDirective("apigw_oidc", parseOIDC)
	registerGatewayHandlerDirective("apigw_introspect", parseIntrospect)
}

// parseOIDC sets up the OpenID Connect login handler. Syntax:
//
//	apigw_oidc [<matcher>] {
//	    issuer <url>                         # required; discovery is lazy
//	    issuer_name <hint>                   # named in the 503 detail, e.g. APIGW_OIDC_ISSUER
//	    allow_insecure_loopback              # plain http for a loopback issuer only
//	    client_id <id>                       # required
//	    client_secret <secret>               # required, >= 32 bytes; use {$ENV_VAR}
//	    redirect_uri <url>                   # required: this gateway's callback URL
//	    post_logout_redirect_uri <url>
//	    scopes <scope>...                    # default openid profile email
//	    algorithms <alg>...                  # default RS256 ES256 PS256 EdDSA
//	    login_path <path>                    # default /auth/login
//	    logout_path <path>                   # default /auth/logout
//	    default_return_to <path>             # default /app/
//	    user_claim <claim>                   # default sub
//	    claim_metadata <claim> [<key>]       # e.g. claim_metadata email
//	    scope_claim <claim>
//	    roles_claim <claim>
//	    state_ttl <duration>                 # default 10m
//	    max_pending_logins <n>               # default 10000; past it new logins get 503
//	    timeout <duration>                   # default 5s
//	    trusted_origin <origin>...           # other sites whose pages may log out
//	}
func parseOIDC(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	h.Next() // consume directive name
	if h.NextArg() {
		return nil, h.Errf("apigw_oidc takes no arguments, only a block")
	}
	o := new(OIDCLogin)
	for h.NextBlock(0) {
		opt := h.Val()
		if ok, err := o.unmarshalClientOption(h.Dispenser, opt); ok {
			if err != nil {
				return nil, err
			}
			continue
		}
		words := map[string]*string{"redirect_uri": &o.RedirectURI, "post_logout_redirect_uri": &o.PostLogoutRedirectURI,
			"login_path": &o.LoginPath, "logout_path": &o.LogoutPath, "default_return_to": &o.DefaultReturnTo,
			"user_claim": &o.UserClaim, "scope_claim": &o.ScopeClaim, "roles_claim": &o.RolesClaim}
		var err error
		switch opt {
		case "redirect_uri", "post_logout_redirect_uri", "login_path", "logout_path", "default_return_to", "user_claim", "scope_claim", "roles_claim":
			err = oidcArg(h.Dispenser, words[opt])
		case "scopes":
			if o.Scopes = append(o.Scopes, h.RemainingArgs()...); len(o.Scopes) == 0 {
				return nil, h.ArgErr()
			}
		case "algorithms":
			algs := h.RemainingArgs()
			if len(algs) == 0 {
				return nil, h.ArgErr()
			}
			o.Algorithms = append(o.Algorithms, algs...)
		case "claim_metadata":
			args := h.RemainingArgs()
			if len(args) < 1 || len(args) > 2 {
				return nil, h.ArgErr()
			}
			key := args[0]
			if len(args) == 2 {
				key = args[1]
			}
			if o.ClaimMetadata == nil {
				o.ClaimMetadata = map[string]string{}
			}
			o.ClaimMetadata[args[0]] = key
		case "state_ttl":
			var s string
			if err = oidcArg(h.Dispenser, &s); err == nil {
				d, perr := caddy.ParseDuration(s)
				if perr != nil || d <= 0 {
					return nil, h.Errf("apigw_oidc: state_ttl %q: want a positive duration such as 10m", s)
				}
				o.StateTTL = caddy.Duration(d)
			}
		case "max_pending_logins":
			err = oidcCount(h.Dispenser, "apigw_oidc", " such as 10000", &o.MaxPendingLogins)
		case "trusted_origin":
			args := h.RemainingArgs()
			if len(args) == 0 {
				return nil, h.ArgErr()
			}
			if _, err := sessions.EndpointPolicy(args); err != nil {
				return nil, h.Errf("apigw_oidc %v", err)
			}
			o.TrustedOrigins = append(o.TrustedOrigins, args...)
		default:
			return nil, h.Errf("apigw_oidc: unrecognized option %q (known: issuer issuer_name allow_insecure_loopback client_id client_secret timeout redirect_uri post_logout_redirect_uri scopes algorithms login_path logout_path default_return_to user_claim claim_metadata scope_claim roles_claim state_ttl max_pending_logins trusted_origin)", opt)
		}
		if err != nil {
			return nil, err
		}
	}
	if err := o.checkClientCaddyfile(h.Dispenser, "apigw_oidc"); err != nil {
		return nil, err
	}
	s := o.settings()
	if err := s.Check(false); err != nil {
		return nil, h.Errf("apigw_oidc: %v", err)
	}
	return o, nil
}

// oidcCount reads the positive number argument of the current option.
func oidcCount(d *caddyfile.Dispenser, directive, example string, dst *int) error {
	opt := d.Val()
	var s string
	if err := oidcArg(d, &s); err != nil {
		return err
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return d.Errf("%s: %s %q: want a positive number%s", directive, opt, s, example)
	}
	*dst = n
	return nil
}

// parseIntrospect sets up the apigw_introspect authentication provider.
// Syntax:
//
//	apigw_introspect [<matcher>] {
//	    issuer <url>                         # required; discovery is lazy
//	    issuer_name <hint>
//	    allow_insecure_loopback
//	    client_id <id>                       # required
//	    client_secret <secret>               # required, >= 32 bytes
//	    introspection_endpoint <url>         # default: discovered
//	    cache_ttl <duration>                 # default 60s (never past exp)
//	    negative_cache_ttl <duration>        # default 5s, at most 5s
//	    cache_size <n>                       # default 10000
//	    max_response_size <size>             # default 64KiB
//	    timeout <duration>                   # default 5s
//	    realm <realm>
//	    pass_credential
//	    user_header <header>|-
//	    claim_header <claim> <header>        # e.g. claim_header scope X-Auth-Scope
//	    dpop required|allowed|off            # default off; as apigw_jwt (parseDPoPOption)
//	    dpop_algorithms <alg...>             # default ES256 RS256 EdDSA
//	    dpop_max_age <duration>              # default 60s
//	    dpop_leeway <duration>               # default 60s
//	    use_dpop_nonce
//	    dpop_nonce_lifetime <duration>       # default 5m
//	}
func parseIntrospect(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	a := new(IntrospectAuth)
	dur := func(dst *caddy.Duration, opt string) error {
		var s string
		if err := oidcArg(h.Dispenser, &s); err != nil {
			return err
		}
		d, err := caddy.ParseDuration(s)
		if err != nil || d <= 0 {
			return h.Errf("apigw_introspect: %s %q: want a positive duration such as 60s", opt, s)
		}
		*dst = caddy.Duration(d)
		return nil
	}
	d := h.Dispenser
	err := parseProviderBlock(h, "apigw_introspect", &a.IdentityHeaders, func(opt string) error {
		if ok, err := a.unmarshalClientOption(d, opt); ok {
			return err
		}
		if ok, err := parseDPoPOption(d, &a.DPoP); ok {
			return err
		}
		var err error
		switch opt {
		case "introspection_endpoint":
			err = oidcArg(d, &a.IntrospectionEndpoint)
		case "cache_ttl":
			err = dur(&a.CacheTTL, opt)
		case "negative_cache_ttl":
			err = dur(&a.NegativeCacheTTL, opt)
		case "cache_size":
			err = oidcCount(d, "apigw_introspect", "", &a.CacheSize)
		case "max_response_size":
			var s string
			if err = oidcArg(d, &s); err == nil {
				n, perr := humanize.ParseBytes(s)
				if perr != nil || n == 0 {
					return d.Errf("apigw_introspect: max_response_size %q: want a size such as 64KiB", s)
				}
				a.MaxResponseSize = int64(n)
			}
		case "realm":
			err = oidcArg(d, &a.Realm)
		case "pass_credential":
			if d.NextArg() {
				return d.ArgErr()
			}
			a.PassCredential = true
		default:
			return d.Errf("apigw_introspect: unrecognized option %q (known: issuer issuer_name allow_insecure_loopback client_id client_secret timeout introspection_endpoint cache_ttl negative_cache_ttl cache_size max_response_size realm pass_credential user_header claim_header dpop dpop_algorithms dpop_max_age dpop_leeway use_dpop_nonce dpop_nonce_lifetime)", opt)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := a.checkClientCaddyfile(h.Dispenser, "apigw_introspect"); err != nil {
		return nil, err
	}
	if err := oidc.CheckIntrospection(time.Duration(a.NegativeCacheTTL), a.IntrospectionEndpoint, a.AllowInsecureLoopback, false); err != nil {
		return nil, h.Errf("apigw_introspect: %v", err)
	}
	if err := checkDPoPCaddyfile(h.Dispenser, a.DPoP); err != nil {
		return nil, err
	}
	return authProvider("apigw_introspect", a), nil
}
