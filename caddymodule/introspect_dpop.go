package caddymodule

import (
	"net/http"
	"strings"

	"go.uber.org/zap"

	"github.com/apigw/caddy-apigw/authn"
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
	a.unavailable = problem.New(http.StatusServiceUnavailable, problem.CodeServiceUnavailable,
		"credentials cannot be checked right now").WithHeader("Retry-After", "1")
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

// dpopInvalid is a 401 with the DPoP challenge of this route (the default
// one when DPoP is off) carrying the RFC 9449 error errParam.
func (a *IntrospectAuth) dpopInvalid(code, errParam, detail string) *problem.Problem {
	chall := `DPoP algs="` + strings.Join(authn.DefaultDPoPAlgorithms, " ") + `"`
	if a.dpop != nil {
		chall = a.dpop.challenge
	}
	return dpopProblem(chall, code, errParam, detail)
}

// checkBinding enforces the cnf of the introspection answer res and, for
// the DPoP scheme, the proof. It runs on every request, after the answer
// came from the issuer or the cache: a cached active answer never stands
// in for the proof or the client certificate of this request. It returns
// false after recording the refusal.
func (a *IntrospectAuth) checkBinding(w http.ResponseWriter, r *http.Request, token string, dpopScheme bool, res *oidc.Result) bool {
	if res.CnfUnknown {
		a.reject(w, r, a.invalid("the token has a cnf the gateway cannot check (neither jkt nor x5t#S256)"))
		return false
	}
	if detail := certBindingRefusal(r, res.CnfX5T); detail != "" {
		a.reject(w, r, a.invalid(detail))
		return false
	}
	if !dpopScheme {
		switch {
		case res.CnfJKT != "":
			a.reject(w, r, a.dpopInvalid(problem.CodeInvalidToken, "invalid_token",
				"the token is DPoP-bound (cnf.jkt): present it as \"Authorization: DPoP <token>\" with a DPoP proof, not as Bearer"))
			return false
		case a.dpop != nil && a.dpop.mode == DPoPRequired:
			a.reject(w, r, a.dpopInvalid(problem.CodeInvalidToken, "invalid_token",
				"a DPoP-bound token is required: present it as \"Authorization: DPoP <token>\" with a DPoP proof"))
			return false
		}
		return true
	}
	if res.CnfJKT == "" {
		a.reject(w, r, a.dpopInvalid(problem.CodeInvalidToken, "invalid_token",
			"the token is not DPoP-bound (no cnf.jkt in its introspection answer): it cannot be presented as DPoP"))
		return false
	}
	p, err := CheckDPoPProof(w, r, a.dpop.verifier, a.dpop.nonces, token, res.CnfJKT)
	switch {
	case err != nil:
		a.logger.Error("dpop store unavailable; rejecting request", zap.Error(err))
		RequestID(w, r)
		RecordAuthFailure(r, a.unavailable)
		Audit(r, "auth_unavailable", problem.CodeServiceUnavailable, zap.String("provider", "apigw_introspect"))
		return false
	case p != nil:
		a.reject(w, r, p)
		return false
	}
	return true
}
