package caddymodule

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/apigw/caddy-apigw/authn"
	"github.com/apigw/caddy-apigw/failure"
	"github.com/apigw/caddy-apigw/oidc"
	"github.com/apigw/caddy-apigw/problem"
	"github.com/apigw/caddy-apigw/store"
)

// Proof of possession for introspected tokens: the introspection answer's
// cnf (RFC 7662 §2.2 with RFC 9449 §6.2 jkt and RFC 8705 §3.2 x5t#S256)
// is checked on every request, exactly as apigw_jwt checks a JWT's cnf
// claim, with the same DPoP state (newDPoP) and the same checks
// (CheckDPoPProof, certBindingRefusal).

// provisionDPoP builds the DPoP verifier and, with DPoP on, the challenges
// of this route (RFC 9449 §7.1), as apigw_jwt does.
func (a *IntrospectAuth) provisionDPoP(st store.Store) error {
	d, err := newDPoP(a.DPoP, st)
	if err != nil || d == nil {
		return err
	}
	a.dpop = d
	if d.mode == DPoPRequired {
		// every refusal on this route speaks DPoP
		a.challenge = d.challenge
		a.missing = problem.New(http.StatusUnauthorized, problem.CodeMissingCredentials,
			"a DPoP-bound token and a DPoP proof are required: send Authorization: DPoP <token> and a DPoP header").
			WithHeader("WWW-Authenticate", a.challenge)
		return nil
	}
	a.missing = problem.New(http.StatusUnauthorized, problem.CodeMissingCredentials,
		"a bearer or DPoP token is required: send Authorization: Bearer <token> (or DPoP <token> with a DPoP proof)")
	a.missing.Header = http.Header{"Www-Authenticate": {a.challenge, d.challenge}}
	return nil
}

// tokenFrom extracts the token of the one Authorization header:
// `Bearer <token>`, or `DPoP <token>` (dpopScheme) when DPoP is on.
func (a *IntrospectAuth) tokenFrom(r *http.Request) (token string, dpopScheme, ok bool) {
	vals := r.Header["Authorization"]
	if len(vals) != 1 {
		return "", false, false
	}
	v := strings.TrimSpace(vals[0])
	switch {
	case len(v) > 7 && strings.EqualFold(v[:7], "bearer "):
		token = strings.TrimSpace(v[7:])
	case a.dpop != nil && len(v) > 5 && strings.EqualFold(v[:5], "dpop "):
		token, dpopScheme = strings.TrimSpace(v[5:]), true
	}
	return token, dpopScheme, token != ""
}

// schemeHint is the detail for an Authorization header tokenFrom refused.
func (a *IntrospectAuth) schemeHint() string {
	switch {
	case a.dpop == nil:
		return `the Authorization header must be "Bearer <token>"`
	case a.dpop.mode == DPoPRequired:
		return `the Authorization header must be "DPoP <token>"`
	}
	return `the Authorization header must be "Bearer <token>" or "DPoP <token>"`
}

// invalid is the 401 for a refused token: with the DPoP challenge of
// this route (the default one when DPoP is off) for a refusal about DPoP
// binding, else with the route's challenge, each carrying the error.
func (a *IntrospectAuth) invalid(err error) *problem.Problem {
	p := problemFromError(err)
	if errors.Is(err, oidc.ErrDPoPChallenge) {
		chall := `DPoP algs="` + strings.Join(authn.DefaultDPoPAlgorithms, " ") + `"`
		if a.dpop != nil {
			chall = a.dpop.challenge
		}
		return dpopProblem(chall, p.Code, "invalid_token", p.Detail)
	}
	return p.WithHeader("WWW-Authenticate", a.challenge+`, error="invalid_token", error_description=`+strconv.Quote(p.Detail))
}

// checkProof checks the DPoP proof of this request against the token's
// cnf.jkt; it returns false after recording the refusal.
func (a *IntrospectAuth) checkProof(w http.ResponseWriter, r *http.Request, token, jkt string) bool {
	p, err := CheckDPoPProof(w, r, a.dpop.verifier, a.dpop.nonces, token, jkt)
	if err != nil {
		a.logger.Error("dpop store unavailable; rejecting request", zap.Error(err))
		p = problemFromError(failure.Wrap(failure.ErrUnavailable, "credentials cannot be checked right now", err)).WithHeader("Retry-After", "1")
	}
	if p != nil {
		a.reject(w, r, p)
		return false
	}
	return true
}
