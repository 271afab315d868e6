package caddymodule

import (
	"fmt"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/apigw/caddy-apigw/problem"
	"github.com/apigw/caddy-apigw/store"
)

// What the authentication providers (apigw_api_key, apigw_jwt,
// apigw_mtls, apigw_introspect, apigw_http_signature, apigw_session)
// share: provisioning with the store, and recording a refusal.

// provisionWithStore provisions the credential provider name, which
// needs the shared store: provision gets the module's logger and the
// store; then *header, the provider's credential header (known once
// provision ran; nil: none), is redacted from the access logs.
func provisionWithStore(ctx caddy.Context, name string, provision func(*zap.Logger, store.Store) error, header *string) error {
	st, err := StoreFrom(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if err := provision(ctx.Logger(), st); err != nil {
		return err
	}
	if header != nil {
		RedactCredentialHeaders(ctx, "", *header)
	}
	return nil
}

// authFailed records an authentication provider's refusal of r: the
// request id (set before the audit entry, so it also reaches the response
// header), p for the renderer (RecordAuthFailure), and one "auth_failed"
// audit entry naming the provider, with fields (never a secret).
func authFailed(w http.ResponseWriter, r *http.Request, provider string, p *problem.Problem, fields ...zap.Field) {
	RequestID(w, r)
	RecordAuthFailure(r, p)
	Audit(r, "auth_failed", p.Code, append([]zap.Field{zap.String("provider", provider)}, fields...)...)
}

// authUnavailable fails closed when a backend the decision needs (the
// store) cannot answer: err is logged with msg (logStoreError: an outage
// is DEBUG per request, anything else an ERROR), and the request gets p,
// a 503 (the renderer shows it in place of Caddy's 401), and one
// "auth_unavailable" audit entry naming the provider.
func authUnavailable(w http.ResponseWriter, r *http.Request, logger *zap.Logger, provider, msg string, err error, p *problem.Problem) {
	logStoreError(logger, msg, err)
	RequestID(w, r)
	RecordAuthFailure(r, p)
	Audit(r, "auth_unavailable", problem.CodeServiceUnavailable, zap.String("provider", provider))
}

// credentialsUnavailable is the 503 a provider answers when its store
// cannot say whether the credentials are good (Retry-After: 1).
func credentialsUnavailable() *problem.Problem {
	return problem.New(http.StatusServiceUnavailable, problem.CodeServiceUnavailable,
		"credentials cannot be checked right now").WithHeader("Retry-After", "1")
}
