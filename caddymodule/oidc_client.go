package caddymodule

import (
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/apigw/caddy-apigw/oidc"
	"github.com/apigw/caddy-apigw/problem"
)

// OIDCClient is the issuer and client registration that apigw_oidc and
// apigw_introspect share (JSON fields inline in both modules).
type OIDCClient struct {
	// Issuer is the OpenID Provider's issuer URL; discovery reads
	// <issuer>/.well-known/openid-configuration. https only (see
	// AllowInsecureLoopback). Placeholders are expanded at provision.
	// Discovery happens lazily and is retried with backoff: the gateway
	// starts and serves other routes while the issuer is down, and these
	// routes answer 503 service_unavailable until it answers.
	Issuer string `json:"issuer,omitempty"`
	// IssuerName is a human hint for operators, named in the 503 detail
	// while the issuer is unreachable (e.g. "APIGW_OIDC_ISSUER", the
	// variable to fix). Default: none.
	IssuerName string `json:"issuer_name,omitempty"`
	// AllowInsecureLoopback permits a plain-http issuer whose host is a
	// loopback address (local demos and tests). Default: false.
	AllowInsecureLoopback bool `json:"allow_insecure_loopback,omitempty"`
	// ClientID is the gateway's client id at the issuer. Placeholders are
	// expanded at provision.
	ClientID string `json:"client_id,omitempty"`
	// ClientSecret is the client secret (client_secret_basic), at least
	// 32 bytes. Use a placeholder such as {env.APIGW_OIDC_CLIENT_SECRET}.
	ClientSecret string `json:"client_secret,omitempty"`
	// Timeout bounds each call to the issuer. Default: 5s.
	Timeout caddy.Duration `json:"timeout,omitempty"`
}

// provisionClient expands placeholders, checks the settings and returns
// a lazy discovery of the issuer. It never contacts the issuer.
func (c *OIDCClient) provisionClient(directive string) (*oidc.Discovery, error) {
	repl := caddy.NewReplacer()
	c.Issuer = repl.ReplaceKnown(c.Issuer, "")
	c.ClientID = repl.ReplaceKnown(c.ClientID, "")
	c.ClientSecret = repl.ReplaceKnown(c.ClientSecret, "")
	if err := oidc.CheckClient(c.Issuer, c.ClientID, c.ClientSecret, c.AllowInsecureLoopback, true); err != nil {
		return nil, fmt.Errorf("%s: %w", directive, err)
	}
	return oidc.NewDiscovery(c.Issuer, c.IssuerName, time.Duration(c.Timeout)), nil
}

// oidcUnavailable is the 503 while the issuer (or the store) cannot be
// used: what failed, then the domain's detail, which names the issuer.
func oidcUnavailable(what string, err error) *problem.Problem {
	p := problemFromError(err)
	p.Detail = what + ": " + p.Detail
	return p.WithHeader("Retry-After", "5")
}

// unmarshalClientOption parses one shared option; ok is false for an
// option it does not know.
func (c *OIDCClient) unmarshalClientOption(d *caddyfile.Dispenser, opt string) (bool, error) {
	switch opt {
	case "issuer":
		return true, oidcArg(d, &c.Issuer)
	case "issuer_name":
		return true, oidcArg(d, &c.IssuerName)
	case "client_id":
		return true, oidcArg(d, &c.ClientID)
	case "client_secret":
		return true, oidcArg(d, &c.ClientSecret)
	case "allow_insecure_loopback":
		if d.NextArg() {
			return true, d.ArgErr()
		}
		c.AllowInsecureLoopback = true
	case "timeout":
		var s string
		if err := oidcArg(d, &s); err != nil {
			return true, err
		}
		dur, err := caddy.ParseDuration(s)
		if err != nil || dur <= 0 {
			return true, d.Errf("timeout %q: want a positive duration such as 5s", s)
		}
		c.Timeout = caddy.Duration(dur)
	default:
		return false, nil
	}
	return true, nil
}

// checkClientCaddyfile checks the client options at adapt time.
func (c *OIDCClient) checkClientCaddyfile(d *caddyfile.Dispenser, directive string) error {
	if err := oidc.CheckClient(c.Issuer, c.ClientID, c.ClientSecret, c.AllowInsecureLoopback, false); err != nil {
		return d.Errf("%s: %v", directive, err)
	}
	return nil
}

func oidcArg(d *caddyfile.Dispenser, dst *string) error {
	if !d.AllArgs(dst) {
		return d.ArgErr()
	}
	return nil
}
