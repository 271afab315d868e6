package oidc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/sync/singleflight"

	"github.com/apigw/caddy-apigw/failure"
)

// DefaultMinBackoff is the wait after a first failed discovery; it
// doubles with every failure up to DefaultMaxBackoff.
const DefaultMinBackoff = 500 * time.Millisecond

// DefaultMaxBackoff caps the wait between discovery attempts.
const DefaultMaxBackoff = 10 * time.Second

// DefaultTimeout bounds each call to the issuer.
const DefaultTimeout = 5 * time.Second

// Metadata is the part of the issuer's discovery document the gateway uses.
type Metadata struct {
	AuthURL          string `json:"authorization_endpoint"`
	TokenURL         string `json:"token_endpoint"`
	EndSessionURL    string `json:"end_session_endpoint"`
	IntrospectionURL string `json:"introspection_endpoint"`
	RevocationURL    string `json:"revocation_endpoint"`
	// IssInAuthResponse is authorization_response_iss_parameter_supported
	// (RFC 9207): the issuer names itself in every authorization response,
	// so a callback without iss did not come from it.
	IssInAuthResponse bool `json:"authorization_response_iss_parameter_supported"`
}

// Provider is a discovered issuer.
type Provider struct {
	// OIDC is go-oidc's provider (JWKS cache, ID token verifier).
	OIDC *gooidc.Provider
	// Meta holds the endpoints.
	Meta Metadata
}

// CheckIssuerURL checks that issuer is an https URL, or plain http on a
// loopback host when allowInsecureLoopback is set.
func CheckIssuerURL(issuer string, allowInsecureLoopback bool) error {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("issuer %q is not an absolute URL without query or fragment", issuer)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if !allowInsecureLoopback {
			return fmt.Errorf("issuer %q uses plain http: use https, or for a loopback issuer in development set allow_insecure_loopback", issuer)
		}
		if !IsLoopbackHost(u.Hostname()) {
			return fmt.Errorf("issuer %q uses plain http on a host that is not loopback: use https", issuer)
		}
		return nil
	}
	return fmt.Errorf("issuer %q: scheme must be https", issuer)
}

// IsLoopbackHost reports whether host is localhost or a loopback IP.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Discovery discovers an issuer lazily, on first use, and keeps the
// result. While the issuer is unreachable every Get fails fast with a
// failure.ErrUnavailable (see Unreachable); a new attempt is made after a backoff that doubles from
// MinBackoff to MaxBackoff, so the gateway neither blocks at startup nor
// hammers a down issuer, and recovers by itself.
type Discovery struct {
	issuer     string
	label      string
	client     *http.Client
	timeout    time.Duration
	minBackoff time.Duration
	maxBackoff time.Duration

	sf      singleflight.Group
	mu      sync.Mutex
	p       *Provider
	lastErr error
	next    time.Time
	backoff time.Duration
	now     func() time.Time
}

// NewDiscovery returns a lazy discovery of issuer, with one HTTP client
// for every call to the issuer (discovery, JWKS, token, introspection)
// that never follows redirects and gives up after timeout (0:
// DefaultTimeout). hint, when set, is named with the issuer in the
// details of outages (e.g. the environment variable to fix).
func NewDiscovery(issuer, hint string, timeout time.Duration) *Discovery {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	client := &http.Client{
		Timeout: timeout,
		// the issuer's endpoints are used as discovered, never followed
		// elsewhere
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	label := issuer
	if hint != "" {
		label += " (" + hint + ")"
	}
	return &Discovery{issuer: issuer, label: label, client: client, timeout: timeout,
		minBackoff: DefaultMinBackoff, maxBackoff: DefaultMaxBackoff, now: time.Now}
}

// Issuer returns the issuer URL.
func (d *Discovery) Issuer() string { return d.issuer }

// Label returns the issuer URL with the operator's hint, if any.
func (d *Discovery) Label() string { return d.label }

// Unreachable is the failure.ErrUnavailable for an issuer that does not
// answer (cause is for the logs).
func (d *Discovery) Unreachable(cause error) error {
	return failure.Wrap(failure.ErrUnavailable, "the OpenID provider "+d.label+" is unreachable; retrying", issuerDown{cause})
}

// Client returns the HTTP client used for the issuer.
func (d *Discovery) Client() *http.Client { return d.client }

// Context returns ctx carrying the issuer HTTP client for go-oidc and
// x/oauth2.
func (d *Discovery) Context(ctx context.Context) context.Context {
	return context.WithValue(gooidc.ClientContext(ctx, d.client), oauth2.HTTPClient, d.client)
}

// Get returns the discovered provider, discovering it if needed (one
// attempt at a time, at most one per backoff interval). The attempt is
// detached from ctx's cancellation so one impatient client cannot fail it
// for the others.
func (d *Discovery) Get(ctx context.Context) (*Provider, error) {
	d.mu.Lock()
	p, next, lastErr := d.p, d.next, d.lastErr
	d.mu.Unlock()
	if p != nil {
		return p, nil
	}
	if lastErr != nil && d.now().Before(next) {
		return nil, lastErr
	}
	v, err, _ := d.sf.Do("", func() (any, error) {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.timeout)
		defer cancel()
		p, err := d.discover(actx)
		d.mu.Lock()
		defer d.mu.Unlock()
		if err != nil {
			if d.backoff == 0 {
				d.backoff = d.minBackoff
			} else if d.backoff *= 2; d.backoff > d.maxBackoff {
				d.backoff = d.maxBackoff
			}
			d.lastErr = d.Unreachable(err)
			d.next = d.now().Add(d.backoff)
			return nil, d.lastErr
		}
		d.p, d.lastErr, d.backoff = p, nil, 0
		return p, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*Provider), nil
}

// IntrospectionEndpoint returns an Introspector's Endpoint: endpoint when
// set, else the issuer's discovered introspection_endpoint.
func (d *Discovery) IntrospectionEndpoint(endpoint string) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		if endpoint != "" {
			return endpoint, nil
		}
		p, err := d.Get(ctx)
		if err != nil {
			return "", err
		}
		if p.Meta.IntrospectionURL == "" {
			return "", errors.New("the issuer advertises no introspection_endpoint")
		}
		return p.Meta.IntrospectionURL, nil
	}
}

func (d *Discovery) discover(ctx context.Context) (*Provider, error) {
	op, err := gooidc.NewProvider(d.Context(ctx), d.issuer)
	if err != nil {
		return nil, err
	}
	var meta Metadata
	if err := op.Claims(&meta); err != nil {
		return nil, fmt.Errorf("reading discovery document: %w", err)
	}
	return &Provider{OIDC: op, Meta: meta}, nil
}
