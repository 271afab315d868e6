package caddymodule

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/apigw/caddy-apigw/authn"
	"github.com/apigw/caddy-apigw/failure"
	"github.com/apigw/caddy-apigw/problem"
	"github.com/apigw/caddy-apigw/store"
)

// DPoP modes of apigw_jwt and apigw_introspect (see authn.DPoPOff).
const (
	// DPoPOff accepts Bearer tokens only (the default). A token bound to
	// a DPoP key (cnf.jkt) is still refused as a Bearer token.
	DPoPOff = authn.DPoPOff
	// DPoPAllowed accepts Bearer tokens without cnf.jkt, and DPoP-bound
	// tokens with `Authorization: DPoP` and a proof.
	DPoPAllowed = authn.DPoPAllowed
	// DPoPRequired accepts only DPoP-bound tokens with a proof.
	DPoPRequired = authn.DPoPRequired
)

// dpopHeader is the canonical form of the DPoP request header.
const dpopHeader = "Dpop"

// JWTDPoP configures DPoP (RFC 9449, proof of possession) on apigw_jwt
// and apigw_introspect: `Authorization: DPoP <token>` plus one `DPoP`
// proof header, whose key's RFC 7638 thumbprint must equal the token's
// cnf.jkt (a JWT claim, or a member of the introspection answer).
// EXPERIMENTAL.
type JWTDPoP struct {
	// Mode is "off", "allowed" (Bearer tokens without cnf.jkt, and DPoP)
	// or "required" (DPoP only). Without this object apigw_jwt is "off";
	// a token with cnf.jkt is refused as a Bearer token in every mode.
	Mode string `json:"mode,omitempty"`
	// Algorithms is the allow-list of proof algorithms; asymmetric only.
	// Default: ES256 RS256 EdDSA.
	Algorithms []string `json:"algorithms,omitempty"`
	// MaxAge is how old (by its iat) a proof may be. Default: 60s.
	MaxAge caddy.Duration `json:"max_age,omitempty"`
	// Leeway is how far in the future a proof's iat may be (client clock
	// skew). Default: 60s.
	Leeway caddy.Duration `json:"leeway,omitempty"`
	// UseNonce makes proofs carry a server nonce (RFC 9449 §8): a proof
	// without the current one gets 401 with `error="use_dpop_nonce"` and
	// a `DPoP-Nonce` header; every accepted request gets the current nonce
	// in `DPoP-Nonce`. Nonces are shared by instances through the store.
	UseNonce bool `json:"use_nonce,omitempty"`
	// NonceLifetime is how long one nonce is handed out; it is accepted
	// for one more lifetime after. Default: 5m.
	NonceLifetime caddy.Duration `json:"nonce_lifetime,omitempty"`
}

// jwtDPoP is the provisioned DPoP state of a JWTAuth or IntrospectAuth.
type jwtDPoP struct {
	mode      string
	verifier  *authn.DPoPVerifier
	nonces    *authn.DPoPNonces
	challenge string // `DPoP algs="..."`
}

// settings returns d for authn.DPoPSettings.Check.
func (d *JWTDPoP) settings() authn.DPoPSettings {
	return authn.DPoPSettings{
		Mode: d.Mode, Algorithms: d.Algorithms, UseNonce: d.UseNonce,
		MaxAge: time.Duration(d.MaxAge), Leeway: time.Duration(d.Leeway), NonceLifetime: time.Duration(d.NonceLifetime),
	}
}

// newDPoP builds the DPoP state of a provider (apigw_jwt,
// apigw_introspect) from its dpop settings; nil when d is nil or off.
func newDPoP(d *JWTDPoP, st store.Store) (*jwtDPoP, error) {
	if d == nil {
		return nil, nil
	}
	if err := d.settings().Check(); err != nil || d.Mode == DPoPOff {
		return nil, err
	}
	cfg := authn.DPoPConfig{
		Algorithms: d.Algorithms,
		MaxAge:     time.Duration(d.MaxAge),
		Leeway:     time.Duration(d.Leeway),
		Store:      st,
	}
	if d.UseNonce {
		n, err := authn.NewDPoPNonces(st, time.Duration(d.NonceLifetime), nil)
		if err != nil {
			return nil, err
		}
		cfg.Nonces = n
	}
	v, err := authn.NewDPoPVerifier(cfg)
	if err != nil {
		return nil, err
	}
	return &jwtDPoP{mode: d.Mode, verifier: v, nonces: cfg.Nonces, challenge: "DPoP " + v.ChallengeParams()}, nil
}

// provisionDPoP builds the DPoP verifier; with DPoP off it only keeps the
// cnf.jkt refusal for Bearer tokens (in Authenticate).
func (j *JWTAuth) provisionDPoP(st store.Store) error {
	d, err := newDPoP(j.DPoP, st)
	if err != nil || d == nil {
		return err
	}
	if j.header != "Authorization" {
		return fmt.Errorf("dpop needs the token in the Authorization header, not %s", j.header)
	}
	j.dpop = d
	if d.mode == DPoPRequired {
		// every refusal on this route speaks DPoP (RFC 9449 §7.1)
		j.challenge = j.dpop.challenge
		j.missing = problem.New(http.StatusUnauthorized, problem.CodeMissingCredentials,
			"a DPoP-bound token and a DPoP proof are required").WithHeader("WWW-Authenticate", j.challenge)
	} else {
		j.missing = problem.New(http.StatusUnauthorized, problem.CodeMissingCredentials, "a bearer or DPoP token is required")
		j.missing.Header = http.Header{"Www-Authenticate": {j.challenge, j.dpop.challenge}}
	}
	return nil
}

// dpopTokenFrom extracts the token of `Authorization: DPoP <token>`.
func (j *JWTAuth) dpopTokenFrom(r *http.Request) (string, bool) {
	vals := r.Header[j.header]
	if j.dpop == nil || len(vals) != 1 {
		return "", false
	}
	v := strings.TrimSpace(vals[0])
	if len(v) > 5 && strings.EqualFold(v[:5], "dpop ") {
		t := strings.TrimSpace(v[5:])
		return t, t != ""
	}
	return "", false
}

// DPoPRequestFor describes r for a DPoP proof check (authn.DPoPVerifier):
// its method and URI as the client sent it (scheme, Host, and the path
// before any rewrite), the access token and the token's cnf.jkt. Other
// providers that accept DPoP-bound tokens (introspection) use it too.
func DPoPRequestFor(r *http.Request, token, jkt string) authn.DPoPRequest {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	path := r.URL.EscapedPath()
	if orig, ok := r.Context().Value(caddyhttp.OriginalRequestCtxKey).(http.Request); ok && orig.URL != nil {
		path = orig.URL.EscapedPath()
	}
	return authn.DPoPRequest{Method: r.Method, URL: scheme + "://" + r.Host + path, AccessToken: token, JKT: jkt}
}

// checkBinding enforces the token's cnf claim (authn.CheckBinding) and,
// for the DPoP scheme, the proof. It returns the problem of a refusal, or
// an error when the store failed (fail closed).
func (j *JWTAuth) checkBinding(w http.ResponseWriter, r *http.Request, token string, dpopScheme bool, claims map[string]any) (*problem.Problem, error) {
	cnf := authn.ConfirmationOf(claims)
	if err := authn.CheckBinding(cnf, peerCert(r), dpopScheme, j.dpop != nil && j.dpop.mode == DPoPRequired); err != nil {
		if errors.Is(err, authn.ErrDPoPChallenge) {
			p := problemFromError(err)
			return j.dpopInvalid(p.Code, "invalid_token", p.Detail), nil
		}
		return j.invalid(err), nil
	}
	if !dpopScheme {
		return nil, nil
	}
	return CheckDPoPProof(w, r, j.dpop.verifier, j.dpop.nonces, token, cnf.JKT)
}

// peerCert returns the client certificate of r's TLS connection, or nil.
func peerCert(r *http.Request) *x509.Certificate {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil
	}
	return r.TLS.PeerCertificates[0]
}

// certBindingRefusal checks a token's cnf x5t#S256 against the client
// certificate of r's TLS connection (authn.CheckCertBinding). It returns
// "" when x5t is empty or matches, else why the token is refused (401
// invalid_token); apigw_jwt and apigw_introspect share it.
func certBindingRefusal(r *http.Request, x5t string) string {
	return failure.Detail(authn.CheckCertBinding(peerCert(r), x5t))
}

// CheckDPoPProof checks the request's one DPoP header against a token
// bound to jkt (its cnf.jkt) with v, for any provider that accepts
// DPoP-bound tokens (apigw_jwt; an introspection provider reading cnf.jkt
// from the introspection answer). It returns nil, nil when the proof
// passes (then, with nonces, the current nonce is set in the response's
// DPoP-Nonce header); the 401 problem with its DPoP challenge when it
// does not (invalid_token for a key that is not cnf.jkt, else
// invalid_dpop_proof, with error="use_dpop_nonce" and a DPoP-Nonce header
// when a nonce is needed); an error when the store failed (fail closed:
// 503).
func CheckDPoPProof(w http.ResponseWriter, r *http.Request, v *authn.DPoPVerifier, nonces *authn.DPoPNonces, token, jkt string) (*problem.Problem, error) {
	proof, err := authn.SplitDPoPHeader(r.Header[dpopHeader])
	if err == nil {
		_, err = v.Check(r.Context(), proof, DPoPRequestFor(r, token, jkt))
	}
	if err == nil {
		if nonces != nil {
			if n, nerr := nonces.Current(r.Context()); nerr == nil {
				w.Header().Set("DPoP-Nonce", n)
			}
		}
		return nil, nil
	}
	var fe *failure.Error
	if !errors.As(err, &fe) || errors.Is(err, failure.ErrUnavailable) {
		return nil, err
	}
	chall := "DPoP " + v.ChallengeParams()
	p := problemFromError(err)
	var nr *authn.DPoPNonceRequired
	switch {
	case errors.Is(err, failure.ErrInvalidToken):
		return dpopProblem(chall, p.Code, "invalid_token", p.Detail), nil
	case errors.As(err, &nr):
		p = dpopProblem(chall, p.Code, "use_dpop_nonce", p.Detail)
		p.Header.Set("DPoP-Nonce", nr.Nonce)
		return p, nil
	}
	return dpopProblem(chall, p.Code, "invalid_dpop_proof", p.Detail), nil
}

// dpopProblem is a 401 with the DPoP challenge chall carrying the RFC 9449
// error (invalid_token, invalid_dpop_proof, use_dpop_nonce).
func dpopProblem(chall, code, errParam, detail string) *problem.Problem {
	return problem.New(http.StatusUnauthorized, code, detail).WithHeader("WWW-Authenticate",
		chall+`, error="`+errParam+`", error_description=`+strconv.Quote(detail))
}

// dpopInvalid returns a 401 problem with the DPoP challenge carrying the
// RFC 9449 error (invalid_token, invalid_dpop_proof, use_dpop_nonce).
func (j *JWTAuth) dpopInvalid(code, errParam, detail string) *problem.Problem {
	chall := `DPoP algs="` + strings.Join(authn.DefaultDPoPAlgorithms, " ") + `"`
	if j.dpop != nil {
		chall = j.dpop.challenge
	}
	return dpopProblem(chall, code, errParam, detail)
}

// parseDPoPOption handles the DPoP subdirectives of apigw_jwt and
// apigw_introspect into *dst (allocated on first use); it reports whether
// d.Val() was one:
//
//	dpop required|allowed|off
//	dpop_algorithms <alg...>        # default ES256 RS256 EdDSA
//	dpop_max_age <duration>         # default 60s
//	dpop_leeway <duration>          # default 60s
//	use_dpop_nonce
//	dpop_nonce_lifetime <duration>  # default 5m
func parseDPoPOption(d *caddyfile.Dispenser, dst **JWTDPoP) (bool, error) {
	name := d.Val()
	switch name {
	case "dpop", "dpop_algorithms", "dpop_max_age", "dpop_leeway", "use_dpop_nonce", "dpop_nonce_lifetime":
	default:
		return false, nil
	}
	if *dst == nil {
		*dst = new(JWTDPoP)
	}
	dp := *dst
	args := d.RemainingArgs()
	dur := func(dst *caddy.Duration) error {
		if len(args) != 1 {
			return d.ArgErr()
		}
		v, err := caddy.ParseDuration(args[0])
		if err != nil {
			return d.Errf("%s: %v", name, err)
		}
		if v <= 0 {
			return d.Errf("%s must be positive", name)
		}
		*dst = caddy.Duration(v)
		return nil
	}
	switch name {
	case "dpop":
		if len(args) != 1 {
			return true, d.ArgErr()
		}
		dp.Mode = args[0]
	case "dpop_algorithms":
		if len(args) == 0 {
			return true, d.ArgErr()
		}
		dp.Algorithms = append(dp.Algorithms, args...)
	case "dpop_max_age":
		return true, dur(&dp.MaxAge)
	case "dpop_leeway":
		return true, dur(&dp.Leeway)
	case "dpop_nonce_lifetime":
		return true, dur(&dp.NonceLifetime)
	case "use_dpop_nonce":
		if len(args) != 0 {
			return true, d.ArgErr()
		}
		dp.UseNonce = true
	}
	return true, nil
}

// checkDPoPCaddyfile makes the check Provision makes
// (authn.DPoPSettings.Check) on the DPoP options of a Caddyfile, and
// refuses options that "dpop off" would ignore.
func checkDPoPCaddyfile(d *caddyfile.Dispenser, dp *JWTDPoP) error {
	if dp == nil {
		return nil
	}
	if dp.Mode == DPoPOff && (len(dp.Algorithms) > 0 || dp.UseNonce ||
		dp.MaxAge != 0 || dp.Leeway != 0 || dp.NonceLifetime != 0) {
		return d.Errf("dpop is off: remove the dpop_* and use_dpop_nonce options or set dpop required|allowed")
	}
	if err := dp.settings().Check(); err != nil {
		return d.Errf("%v", err)
	}
	return nil
}
