package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/apigw/caddy-apigw/failure"
	"github.com/apigw/caddy-apigw/sessions"
)

func init() {
	caddy.RegisterModule(SessionAuth{})
	registerGatewayDirective("apigw_session", parseSessionDirective)
}

// SessionOptions configures sessions for the whole config (global option
// `apigw { session { ... } }`), so apigw_login, apigw_logout and
// apigw_session in different handle blocks agree on the cookie and the
// timeouts.
type SessionOptions struct {
	// CookieName is the session cookie's name. Default: apigw_session.
	CookieName string `json:"cookie_name,omitempty"`
	// IdleTimeout ends a session unused for this long. Default: 30m.
	IdleTimeout caddy.Duration `json:"idle_timeout,omitempty"`
	// Lifetime ends a session this long after login. Default: 12h.
	Lifetime caddy.Duration `json:"lifetime,omitempty"`
	// MaxPerUser caps the live sessions of one user; a further login
	// ends the oldest. Default: 10.
	MaxPerUser int `json:"max_per_user,omitempty"`
	// HostPrefix sends the cookie as "__Host-<cookie_name>" (always
	// Secure, Path=/, no Domain): only for sites served over HTTPS.
	// Default: false.
	HostPrefix bool `json:"host_prefix,omitempty"`
	// SameSite is the cookie's SameSite attribute, "lax" or "strict".
	// Default: lax.
	SameSite string `json:"same_site,omitempty"`
}

// Config returns the effective sessions.Config of o (nil means defaults).
func (o *SessionOptions) Config() sessions.Config { return o.raw().WithDefaults() }

func (o *SessionOptions) raw() sessions.Config {
	if o == nil {
		return sessions.Config{}
	}
	return sessions.Config{
		CookieName:  o.CookieName,
		IdleTimeout: time.Duration(o.IdleTimeout),
		Lifetime:    time.Duration(o.Lifetime),
		MaxPerUser:  o.MaxPerUser,
		HostPrefix:  o.HostPrefix,
		SameSite:    o.SameSite,
	}
}

// SessionConfig returns the app's effective session configuration, for
// every module (and the admin API) that builds a sessions.Manager.
func (a *App) SessionConfig() sessions.Config { return a.Session.Config() }

// SessionManagerFrom returns a sessions.Manager over the running config's
// store with the global session options. Managers hold no state of their
// own (every lookup reads the store; they only remember the decoding of
// the bytes last read per session), so each module may build its own.
func SessionManagerFrom(ctx caddy.Context) (*sessions.Manager, error) {
	v, err := ctx.App("apigw")
	if err != nil {
		return nil, fmt.Errorf("loading apigw app: %w", err)
	}
	app := v.(*App)
	if app.store == nil {
		return nil, errors.New("apigw app has no store")
	}
	if err := app.Session.raw().Validate(); err != nil {
		return nil, fmt.Errorf("apigw session option: %w", err)
	}
	return sessions.NewManager(app.store, app.SessionConfig()), nil
}

// provisionSessions is the Provision step every session handler shares:
// the session manager (errors name directive) and the redaction of the
// session cookie from logs.
func provisionSessions(ctx caddy.Context, directive string) (*sessions.Manager, error) {
	mgr, err := SessionManagerFrom(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", directive, err)
	}
	RedactCredentialHeaders(ctx, mgr.CookieName())
	return mgr, nil
}

// parseSessionOption parses the session block of the apigw global option:
//
//	session {
//	    cookie       <name>        # default apigw_session
//	    idle_timeout <duration>    # default 30m
//	    lifetime     <duration>    # default 12h
//	    max_per_user <n>           # default 10
//	    host_prefix                # cookie __Host-<name> (HTTPS sites)
//	    same_site    lax|strict    # default lax
//	}
func parseSessionOption(d *caddyfile.Dispenser, app *App) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	o := new(SessionOptions)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		switch opt {
		case "host_prefix":
			if d.NextArg() {
				return d.ArgErr()
			}
			o.HostPrefix = true
			continue
		case "cookie", "idle_timeout", "lifetime", "max_per_user", "same_site":
		default:
			return d.Errf("unrecognized apigw session option %q (known: cookie, idle_timeout, lifetime, max_per_user, host_prefix, same_site)", opt)
		}
		if !d.NextArg() {
			return d.ArgErr()
		}
		val := d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
		switch opt {
		case "cookie":
			o.CookieName = val
		case "idle_timeout", "lifetime":
			dur, err := caddy.ParseDuration(val)
			if err != nil || dur <= 0 {
				return d.Errf("apigw session %s %q: want a positive duration such as 30m or 12h", opt, val)
			}
			if opt == "idle_timeout" {
				o.IdleTimeout = caddy.Duration(dur)
			} else {
				o.Lifetime = caddy.Duration(dur)
			}
		case "max_per_user":
			n, err := strconv.Atoi(val)
			if err != nil || n <= 0 {
				return d.Errf("apigw session max_per_user %q: want a positive integer", val)
			}
			o.MaxPerUser = n
		case "same_site":
			o.SameSite = strings.ToLower(val)
		}
	}
	if err := o.raw().Validate(); err != nil {
		return d.Errf("apigw session: %v", err)
	}
	app.Session = o
	return nil
}

// SessionAuth authenticates requests by the session cookie that
// apigw_login set. It is an http.authentication provider: the session's
// user becomes {http.auth.user.id} and the upstream's X-Auth-User, with
// method "session". A missing cookie is 401 missing_credentials; an
// unknown, ended or expired session is 401 invalid_session.
type SessionAuth struct {
	// PassCookie keeps the session cookie in the request sent upstream.
	// Default: false (the cookie is removed; other cookies are kept).
	PassCookie bool `json:"pass_cookie,omitempty"`
	// Headers names the upstream headers carrying the identity (default
	// X-Auth-User, plus X-Auth-Method).
	Headers IdentityHeaders `json:"headers,omitzero"`
	// LoginRedirect, if set (e.g. "/auth/login"), sends a browser
	// navigation without a valid session (GET or HEAD with an Accept
	// header containing text/html) a 302 to
	// "<login_redirect>?return_to=<the path and query>" instead of the 401;
	// other requests still get the 401. Default: off.
	LoginRedirect string `json:"login_redirect,omitempty"`

	mgr       *sessions.Manager
	cookie    string
	logger    *zap.Logger
	publisher *IdentityPublisher
}

// CaddyModule returns the Caddy module information.
func (SessionAuth) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.authentication.providers.apigw_session",
		New: func() caddy.Module { return new(SessionAuth) },
	}
}

// Provision connects the provider to the shared session store.
func (s *SessionAuth) Provision(ctx caddy.Context) error {
	s.logger = ctx.Logger()
	mgr, err := provisionSessions(ctx, "apigw_session")
	if err != nil {
		return err
	}
	s.mgr, s.cookie = mgr, mgr.CookieName()
	s.publisher = NewIdentityPublisher(s.Headers)
	if s.LoginRedirect != "" {
		if err := sessions.CheckLoginRedirect(s.LoginRedirect); err != nil {
			return fmt.Errorf("apigw_session: %w", err)
		}
	}
	return nil
}

// sessionChallenge is the WWW-Authenticate value of session 401s: the
// "Cookie" scheme (draft-broyer-http-cookie-auth) pointing to the login.
func sessionChallenge(cookie string) string {
	return `Cookie realm="apigw", form-action="/login", cookie-name="` + cookie + `"`
}

// Authenticate implements caddyauth.Authenticator.
func (s *SessionAuth) Authenticate(w http.ResponseWriter, r *http.Request) (caddyauth.User, bool, error) {
	sess, token, err := s.mgr.Authenticate(r.Context(), r.Header)
	if err != nil {
		s.reject(r, err)
		return caddyauth.User{}, false, nil
	}
	if !s.PassCookie {
		sessions.StripRequestCookie(r, s.cookie)
	}
	// the identity is built once per stored version of the session, and
	// with it what publishing it takes
	id := sess.Identity()
	sp := id.Derive(s, func() any {
		sp := &sessionPublished{sid: sess.ID}
		s.publisher.buildInto(&sp.pub, id)
		return sp
	}).(*sessionPublished)
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		sid := sp.sid
		if sid != any(sess.ID) { // never so: an identity belongs to one session
			sid = sess.ID
		}
		repl.Set(SessionIDVar, sid)
		repl.Set(SessionCSRFTokenVar, csrfTokenOf{token})
	}
	if c := s.logger.Check(zapcore.DebugLevel, "session authenticated"); c != nil {
		c.Write(zap.String("user", sess.User), zap.String("session_id", sess.ID))
	}
	return s.publisher.publish(r, id, &sp.pub, true), true, nil
}

// sessionPublished is a session's identity as one SessionAuth publishes
// it (shared, read-only): the publisher's part, and the session id boxed
// once for SessionIDVar.
type sessionPublished struct {
	pub publishedIdentity
	sid any
}

// reject records why a request has no session: a store outage (503), a
// redirect of a browser navigation to login_redirect, or the 401 with the
// Cookie challenge (audited when a cookie was sent).
func (s *SessionAuth) reject(r *http.Request, err error) {
	switch {
	case errors.Is(err, failure.ErrUnavailable):
		logStoreError(s.logger, "session store failed", err)
		RecordAuthFailure(r, problemFromError(err))
	case s.LoginRedirect != "" && sessions.IsNavigation(r):
		RecordAuthFailure(r, loginRedirect(s.LoginRedirect, r, errors.Is(err, failure.ErrInvalidSession)))
	default:
		p := problemFromError(err)
		RecordAuthFailure(r, p.WithHeader("WWW-Authenticate", sessionChallenge(s.cookie)))
		if errors.Is(err, failure.ErrInvalidSession) {
			Audit(r, "auth_failed", p.Code)
		}
	}
}

// Replacer keys set for a request authenticated by a session.
const (
	// SessionIDVar holds the session's handle ({apigw.session.id}): safe
	// to log, never the token.
	SessionIDVar = "apigw.session.id"
	// SessionCSRFTokenVar holds the session's double-submit CSRF token
	// ({apigw.session.csrf_token}), derived from the session token.
	SessionCSRFTokenVar = "apigw.session.csrf_token"
)

// csrfTokenOf renders as the CSRF token derived from a session token,
// computed only when someone reads it ({apigw.session.csrf_token} or the
// apigw_csrf handler); it never renders the session token itself.
type csrfTokenOf struct{ token string }

// String returns the derived CSRF token.
func (c csrfTokenOf) String() string { return sessions.CSRFToken(c.token) }

// GoString hides the session token from %#v.
func (c csrfTokenOf) GoString() string { return "csrfToken" }

// parseSessionDirective sets up session authentication (and, by default,
// CSRF defence) from Caddyfile tokens. Syntax:
//
//	apigw_session [<matcher>] {
//	    pass_cookie                         # keep the session cookie upstream
//	    user_header <header>|-              # default X-Auth-User
//	    claim_header <metadata> <header>    # e.g. claim_header roles X-Auth-Roles
//	    login_redirect <path>               # 302 browser navigations without a session there
//	    csrf off|origin|double_submit       # default origin
//	    trusted_origin <origin>...          # extra origins allowed to send unsafe requests
//	    allow_missing_origin                # let unsafe requests without Origin/Referer/Sec-Fetch-Site through
//	    csrf_header <header>                # double_submit header (default X-CSRF-Token)
//	    csrf_cookie <name>                  # double_submit cookie (default apigw_csrf)
//	}
//
// It emits Caddy's authentication handler with the apigw_session provider
// followed by the apigw_csrf handler (unless `csrf off`), in one route.
func parseSessionDirective(h httpcaddyfile.Helper) ([]httpcaddyfile.ConfigValue, error) {
	h.Next() // consume directive name
	matcherSet, err := h.ExtractMatcherSet()
	if err != nil {
		return nil, err
	}
	h.Next() // consume directive name again: matcher extraction resets
	if h.NextArg() {
		return nil, h.ArgErr()
	}
	var auth SessionAuth
	csrf := CSRF{Mode: CSRFModeOrigin}
	for h.NextBlock(0) {
		switch opt := h.Val(); opt {
		case "pass_cookie":
			if h.NextArg() {
				return nil, h.ArgErr()
			}
			auth.PassCookie = true
		case "user_header":
			if !h.AllArgs(&auth.Headers.User) {
				return nil, h.ArgErr()
			}
		case "claim_header":
			var claim, header string
			if !h.AllArgs(&claim, &header) {
				return nil, h.ArgErr()
			}
			if auth.Headers.Claims == nil {
				auth.Headers.Claims = map[string]string{}
			}
			auth.Headers.Claims[claim] = header
		case "login_redirect":
			if !h.AllArgs(&auth.LoginRedirect) {
				return nil, h.ArgErr()
			}
			if err := sessions.CheckLoginRedirect(auth.LoginRedirect); err != nil {
				return nil, h.Errf("apigw_session: %v", err)
			}
		case "csrf":
			if !h.AllArgs(&csrf.Mode) {
				return nil, h.ArgErr()
			}
			switch csrf.Mode {
			case "off", CSRFModeOrigin, CSRFModeDoubleSubmit:
			default:
				return nil, h.Errf("apigw_session: csrf %q: use off, origin or double_submit", csrf.Mode)
			}
		default:
			if ok, err := csrf.unmarshalOption(h.Dispenser, opt); err != nil {
				return nil, err
			} else if !ok {
				return nil, h.Errf("apigw_session: unrecognized option %q (known: pass_cookie, user_header, claim_header, login_redirect, csrf, trusted_origin, allow_missing_origin, csrf_header, csrf_cookie)", opt)
			}
		}
	}
	authHandler := caddyauth.Authentication{
		ProvidersRaw: caddy.ModuleMap{"apigw_session": caddyconfig.JSON(auth, nil)},
	}
	route := caddyhttp.Route{
		HandlersRaw: []json.RawMessage{caddyconfig.JSONModuleObject(authHandler, "handler", "authentication", nil)},
	}
	if matcherSet != nil {
		route.MatcherSetsRaw = []caddy.ModuleMap{matcherSet}
	}
	if csrf.Mode != "off" {
		route.HandlersRaw = append(route.HandlersRaw, caddyconfig.JSONModuleObject(csrf, "handler", "apigw_csrf", nil))
	}
	return []httpcaddyfile.ConfigValue{{Class: "route", Value: route}}, nil
}

// Interface guards
var (
	_ caddy.Provisioner       = (*SessionAuth)(nil)
	_ caddyauth.Authenticator = (*SessionAuth)(nil)
)
