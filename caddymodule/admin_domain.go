package caddymodule

import (
	"context"
	"time"

	"github.com/apigw/caddy-apigw/authn"
	"github.com/apigw/caddy-apigw/sessions"
)

func init() {
	newAdminServices = domainServices
}

// domainServices wires the admin API to the domain packages on the app's
// store: authn's runtime key store and jti revocations, and a session
// manager with the app's session options.
func domainServices(app *App) (adminServices, error) {
	return adminServices{
		keys:        authnKeys{authn.NewKeyStore(app.store)},
		revocations: authn.NewRevocations(app.store),
		sessions:    sessionManager{sessions.NewManager(app.store, app.SessionConfig())},
	}, nil
}

// authnKeys adapts authn.KeyStore to keyService.
type authnKeys struct{ ks *authn.KeyStore }

func (k authnKeys) Create(ctx context.Context, user string, scopes []string, metadata map[string]string, expires time.Time) (keyRecord, string, error) {
	rec, key, err := k.ks.Create(ctx, user, scopes, metadata, expires)
	return keyRecord(rec), key, err
}

func (k authnKeys) List(ctx context.Context) ([]keyRecord, error) {
	recs, err := k.ks.List(ctx)
	out := make([]keyRecord, len(recs))
	for i, r := range recs {
		out[i] = keyRecord(r)
	}
	return out, err
}

func (k authnKeys) Revoke(ctx context.Context, id string) (bool, error) { return k.ks.Revoke(ctx, id) }

// sessionManager adapts sessions.Manager to sessionService.
type sessionManager struct{ m *sessions.Manager }

func (s sessionManager) List(ctx context.Context, user string) ([]sessionInfo, error) {
	infos, err := s.m.List(ctx, user)
	out := make([]sessionInfo, len(infos))
	for i, in := range infos {
		out[i] = sessionInfo(in)
	}
	return out, err
}

func (s sessionManager) End(ctx context.Context, id string) (bool, error) { return s.m.End(ctx, id) }

func (s sessionManager) EndUser(ctx context.Context, user string) (int, error) {
	return s.m.EndUser(ctx, user)
}

// Interface guards
var (
	_ keyService        = authnKeys{}
	_ revocationService = (*authn.Revocations)(nil)
	_ sessionService    = sessionManager{}
)
