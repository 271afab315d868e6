package caddymodule

import (
	"fmt"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"go.uber.org/zap"

	"github.com/apigw/caddy-apigw/store"
)

func init() {
	caddy.RegisterModule(App{})
	httpcaddyfile.RegisterGlobalOption("apigw", parseGlobalOption)
}

// stores keeps backends alive across config reloads: the new config loads
// the same key before the old one is cleaned up, so sessions, counters and
// runtime keys in memory survive `caddy reload` and `POST /load`.
var stores = caddy.NewUsagePool()

type storeHolder struct{ store.Store }

func (s storeHolder) Destruct() error { return s.Close() }

// App is the apigw app: the state every caddy-apigw module shares. It is
// loaded on demand by the modules (ctx.App("apigw")), so configuring it is
// only needed to choose a store other than memory.
type App struct {
	// Store selects where shared state lives: "memory" (default; one
	// instance, survives config reloads) or a Redis URL:
	// "redis://[user:password@]host:port/db", "rediss://…" (TLS),
	// "redis-sentinel://[user:password@]h1:p1,h2:p2/db?master=<name>",
	// "redis-cluster://[user:password@]h1:p1,h2:p2" (also rediss-sentinel,
	// rediss-cluster). Query options: prefix=<key prefix> (default
	// "apigw:"), timeout=<duration> bounding every Redis call (default
	// 500ms), startup=degraded|require (default degraded: start even if
	// Redis is down, answer 503 where the store is needed, recover by
	// itself; require: fail provisioning instead), ca_file, cert_file and
	// key_file (PEM files for rediss: private CA, client certificate),
	// sentinel_password,
	// sentinel_username, and go-redis's own (pool_size, max_retries, …).
	// Placeholders such as {env.REDIS_PASSWORD} are expanded at provision;
	// in the user info and query they may hold any character.
	Store string `json:"store,omitempty"`

	// Session configures the sessions shared by apigw_login, apigw_logout
	// and apigw_session (cookie name, timeouts, per-user cap). See
	// SessionOptions; nil means the defaults.
	Session *SessionOptions `json:"session,omitempty"`

	store   store.Store
	poolKey string
	logger  *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "apigw",
		New: func() caddy.Module { return new(App) },
	}
}

// Provision opens (or reuses, across reloads) the configured store.
func (a *App) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	repl := caddy.NewReplacer()
	cfg, raw, err := store.FromSetting(a.Store, func(s string) string { return repl.ReplaceKnown(s, "") })
	if err != nil {
		return fmt.Errorf("apigw store: %w", err)
	}
	if err := registerMetrics(ctx, cfg.Kind == "redis"); err != nil {
		return err
	}
	key := "memory"
	if cfg.Kind == "redis" {
		key = "redis|" + cfg.URL
	}
	cfg.Logger = a.logger
	cfg.Observer = storeObserver{}
	val, _, err := stores.LoadOrNew(key, func() (caddy.Destructor, error) {
		s, err := store.Open(cfg)
		if err != nil {
			return nil, err
		}
		return storeHolder{s}, nil
	})
	if err != nil {
		return fmt.Errorf("apigw store %s: %w", store.RedactURL(raw), err)
	}
	a.poolKey = key
	a.store = val.(storeHolder).Store
	a.logger.Debug("store ready", zap.String("kind", cfg.Kind), zap.String("store", store.RedactURL(raw)))
	return nil
}

// Start implements caddy.App.
func (a *App) Start() error { return nil }

// Stop implements caddy.App.
func (a *App) Stop() error { return nil }

// Cleanup releases this config's hold on the store.
func (a *App) Cleanup() error {
	if a.poolKey != "" {
		_, err := stores.Delete(a.poolKey)
		a.poolKey = ""
		return err
	}
	return nil
}

// StoreBackend returns the app's store.
func (a *App) StoreBackend() store.Store { return a.store }

// StoreFrom returns the shared store of the running config, loading the
// apigw app with its defaults if the config does not mention it.
func StoreFrom(ctx caddy.Context) (store.Store, error) {
	v, err := ctx.App("apigw")
	if err != nil {
		return nil, fmt.Errorf("loading apigw app: %w", err)
	}
	return v.(*App).store, nil
}

// parseGlobalOption parses the global option block:
//
//	apigw {
//	    store memory|<redis-url>
//	    session { ... }   # see parseSessionOption
//	}
func parseGlobalOption(d *caddyfile.Dispenser, _ any) (any, error) {
	app := new(App)
	d.Next() // consume option name
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "store":
			if !d.NextArg() {
				return nil, d.ArgErr()
			}
			app.Store = d.Val()
			if d.NextArg() {
				return nil, d.ArgErr()
			}
			if _, _, err := store.FromSetting(app.Store, nil); err != nil {
				return nil, d.Errf("apigw store: %v", err)
			}
		case "session":
			if err := parseSessionOption(d, app); err != nil {
				return nil, err
			}
		default:
			return nil, d.Errf("unrecognized apigw option %q (known: store, session)", d.Val())
		}
	}
	return httpcaddyfile.App{Name: "apigw", Value: caddyconfig.JSON(app, nil)}, nil
}

func hasPlaceholder(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '{' {
			return true
		}
	}
	return false
}

// Interface guards
var (
	_ caddy.App          = (*App)(nil)
	_ caddy.Provisioner  = (*App)(nil)
	_ caddy.CleanerUpper = (*App)(nil)
)
