package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/apigw/caddy-apigw/failure"
	"github.com/apigw/caddy-apigw/oidc"
	"github.com/apigw/caddy-apigw/problem"
	"github.com/apigw/caddy-apigw/sessions"
	"github.com/apigw/caddy-apigw/store"
)

func init() {
	caddy.RegisterModule(OIDCLogin{})
}

// Defaults of OIDCLogin.
const (
	DefaultOIDCLoginPath  = "/auth/login"
	DefaultOIDCLogoutPath = "/auth/logout"
	DefaultOIDCReturnTo   = "/app/"
	// OIDCStateCookie is the short-lived cookie binding a login to the
	// browser that started it ("__Host-" prefixed with host_prefix).
	OIDCStateCookie = "apigw_oidc_login"
)

// DefaultOIDCScopes are the scopes requested at login.
var DefaultOIDCScopes = []string{"openid", "profile", "email"}

// DefaultOIDCAlgorithms are the ID token signature algorithms accepted.
var DefaultOIDCAlgorithms = []string{"RS256", "ES256", "PS256", "EdDSA"}

// OIDCLogin is an OpenID Connect relying party (authorization code flow
// with PKCE S256, state and nonce, client_secret_basic) that logs users
// into caddy-apigw's own server-side sessions. It is a terminal handler
// answering three paths:
//
//   - login_path (GET): 302 to the issuer's authorization endpoint, with
//     a single-use state bound to the browser by a short-lived HttpOnly
//     cookie (the state itself is kept in the apigw store, so it is single
//     use on every instance); return_to must be a same-origin relative
//     path, else default_return_to is used.
//   - the path of redirect_uri (GET): the callback. It checks the state,
//     exchanges the code (with the PKCE verifier), verifies the ID token
//     (signature from the issuer's JWKS, algorithm allow-list, iss, aud,
//     exp, nonce, at_hash) and starts a session exactly as apigw_login
//     does (same cookie, store, rotation, timeouts, CSRF token, admin
//     listing). The user is the ID token's user_claim (sub), claims map to
//     session metadata, scopes and roles. Anything wrong → 401
//     invalid_credentials, no session.
//   - logout_path (POST): ends the session on every instance, and answers
//     200 {"end_session_url": …} (RP-initiated logout with id_token_hint,
//     or null when the issuer has no end_session_endpoint). Cross-site
//     requests are refused (403 csrf_rejected) with the login's origin
//     check.
//
// Other paths get 404. The ID token is kept server-side with the session,
// never in a cookie.
type OIDCLogin struct {
	OIDCClient
	// RedirectURI is this gateway's callback URL, registered at the
	// issuer, e.g. "https://gw.example.com/auth/callback"; its path is
	// the callback path. Placeholders are expanded at provision. Required.
	RedirectURI string `json:"redirect_uri,omitempty"`
	// PostLogoutRedirectURI is sent as post_logout_redirect_uri in the
	// end_session_url. Placeholders are expanded. Default: none.
	PostLogoutRedirectURI string `json:"post_logout_redirect_uri,omitempty"`
	// Scopes are requested at login. Default: openid profile email.
	Scopes []string `json:"scopes,omitempty"`
	// Algorithms is the allow-list of ID token signature algorithms.
	// Default: RS256 ES256 PS256 EdDSA.
	Algorithms []string `json:"algorithms,omitempty"`
	// LoginPath starts a login. Default: /auth/login.
	LoginPath string `json:"login_path,omitempty"`
	// LogoutPath ends a session. Default: /auth/logout.
	LogoutPath string `json:"logout_path,omitempty"`
	// DefaultReturnTo is where the user goes after login when return_to
	// is absent or refused. Default: /app/.
	DefaultReturnTo string `json:"default_return_to,omitempty"`
	// UserClaim is the ID token claim that becomes the user. Default: sub.
	UserClaim string `json:"user_claim,omitempty"`
	// ClaimMetadata maps ID token claims to session metadata keys
	// (readable as {http.auth.user.<key>}), e.g. {"email": "email"}.
	ClaimMetadata map[string]string `json:"claim_metadata,omitempty"`
	// ScopeClaim, if set, names the ID token claim whose values become the
	// session's scopes (for apigw_authorize). Default: none.
	ScopeClaim string `json:"scope_claim,omitempty"`
	// RolesClaim, if set, names the claim whose values become roles.
	RolesClaim string `json:"roles_claim,omitempty"`
	// StateTTL is how long a started login may take. Default: 10m.
	StateTTL caddy.Duration `json:"state_ttl,omitempty"`
	// MaxPendingLogins bounds the logins this gateway has started and not
	// yet finished (or seen expire): past it, a new login is refused with
	// 503 service_unavailable and Retry-After until the oldest state
	// expires. Default: 10000.
	MaxPendingLogins int `json:"max_pending_logins,omitempty"`
	// TrustedOrigins lists other sites whose pages may POST to the logout
	// path (as apigw_login's trusted_origins).
	TrustedOrigins []string `json:"trusted_origins,omitempty"`

	callbackPath string
	disc         *oidc.Discovery
	states       *oidc.States
	rp           *oidc.RelyingParty
	mapping      oidc.ClaimMapping
	policy       sessions.OriginPolicy
	mgr          *sessions.Manager
	st           store.Store
	stateCookie  string
	logger       *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (OIDCLogin) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.apigw_oidc",
		New: func() caddy.Module { return new(OIDCLogin) },
	}
}

// Provision checks the settings and connects to the session store. It
// never contacts the issuer.
func (o *OIDCLogin) Provision(ctx caddy.Context) error {
	mgr, err := SessionManagerFrom(ctx)
	if err != nil {
		return fmt.Errorf("apigw_oidc: %w", err)
	}
	st, err := StoreFrom(ctx)
	if err != nil {
		return fmt.Errorf("apigw_oidc: %w", err)
	}
	RedactCredentialHeaders(ctx, mgr.CookieName())
	RedactCredentialHeaders(ctx, OIDCStateCookie)
	return o.provision(ctx.Logger(), mgr, st)
}

func (o *OIDCLogin) provision(logger *zap.Logger, mgr *sessions.Manager, st store.Store) error {
	o.logger, o.mgr, o.st = logger, mgr, st
	var err error
	if o.disc, err = o.provisionClient("apigw_oidc"); err != nil {
		return err
	}
	repl := caddy.NewReplacer()
	o.RedirectURI = repl.ReplaceKnown(o.RedirectURI, "")
	o.PostLogoutRedirectURI = repl.ReplaceKnown(o.PostLogoutRedirectURI, "")
	if len(o.Scopes) == 0 {
		o.Scopes = DefaultOIDCScopes
	}
	if len(o.Algorithms) == 0 {
		o.Algorithms = DefaultOIDCAlgorithms
	}
	if o.LoginPath == "" {
		o.LoginPath = DefaultOIDCLoginPath
	}
	if o.LogoutPath == "" {
		o.LogoutPath = DefaultOIDCLogoutPath
	}
	if o.DefaultReturnTo == "" {
		o.DefaultReturnTo = DefaultOIDCReturnTo
	}
	ls := o.settings()
	if err := ls.Check(true); err != nil {
		return fmt.Errorf("apigw_oidc: %w", err)
	}
	o.callbackPath, _ = ls.CallbackPath()
	o.mapping = ls.Mapping
	if o.policy, err = sessions.EndpointPolicy(o.TrustedOrigins); err != nil {
		return fmt.Errorf("apigw_oidc %w", err)
	}
	o.states = oidc.NewStates(o.st, time.Duration(o.StateTTL), o.MaxPendingLogins)
	timeout := time.Duration(o.Timeout)
	if timeout <= 0 {
		timeout = oidc.DefaultTimeout
	}
	o.rp = &oidc.RelyingParty{Disc: o.disc, States: o.states, ClientID: o.ClientID, ClientSecret: o.ClientSecret,
		RedirectURI: o.RedirectURI, Scopes: o.Scopes, Algorithms: o.Algorithms, Mapping: o.mapping,
		LoginPath: o.LoginPath, Timeout: timeout, PostLogoutRedirectURI: o.PostLogoutRedirectURI}
	o.stateCookie = OIDCStateCookie
	if o.mgr.Config().HostPrefix {
		o.stateCookie = sessions.HostPrefix + OIDCStateCookie
	}
	return nil
}

// settings are the options the domain checks (oidc.LoginSettings.Check).
func (o *OIDCLogin) settings() oidc.LoginSettings {
	return oidc.LoginSettings{RedirectURI: o.RedirectURI, PostLogoutRedirectURI: o.PostLogoutRedirectURI,
		Algorithms: o.Algorithms, LoginPath: o.LoginPath, LogoutPath: o.LogoutPath, DefaultReturnTo: o.DefaultReturnTo,
		Mapping:          oidc.ClaimMapping{UserClaim: o.UserClaim, Metadata: o.ClaimMetadata, ScopeClaim: o.ScopeClaim, RolesClaim: o.RolesClaim},
		MaxPendingLogins: o.MaxPendingLogins}
}

// ServeHTTP dispatches to the login, callback and logout endpoints. It is
// terminal.
func (o *OIDCLogin) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	w.Header().Set("Cache-Control", "no-store")
	switch r.URL.Path {
	case o.LoginPath:
		return o.login(w, r)
	case o.callbackPath:
		return o.callback(w, r)
	case o.LogoutPath:
		return o.logout(w, r)
	}
	return Fail(problem.New(http.StatusNotFound, problem.CodeNotFound, "no such resource"))
}

func getOnly(r *http.Request) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return Fail(problem.New(http.StatusMethodNotAllowed, problem.CodeMethodNotAllowed, "use GET").WithHeader("Allow", "GET, HEAD"))
	}
	return nil
}

// login starts the authorization code flow.
func (o *OIDCLogin) login(w http.ResponseWriter, r *http.Request) error {
	if err := getOnly(r); err != nil {
		return err
	}
	returnTo := o.DefaultReturnTo
	if vals := r.URL.Query()["return_to"]; len(vals) == 1 {
		returnTo = oidc.SafeReturnTo(vals[0], o.DefaultReturnTo)
	}
	target, cookie, err := o.rp.Start(r.Context(), returnTo)
	var full *oidc.PendingFullError
	switch {
	case err == nil:
	case oidc.IssuerDown(err):
		o.logger.Warn("OpenID provider unavailable", zap.String("issuer", o.Issuer), zap.Error(err))
		return Fail(oidcUnavailable("login is unavailable", err))
	case errors.As(err, &full):
		o.logger.Warn("login refused: too many logins in progress", zap.Int("max_pending_logins", o.MaxPendingLogins))
		return Fail(problemFromError(err).WithHeader("Retry-After", strconv.Itoa(int(full.RetryAfter/time.Second)+1)))
	default:
		o.logger.Error("saving login state failed", zap.Error(err))
		return Fail(problemFromError(err))
	}
	http.SetCookie(w, o.stateCookieFor(r, cookie, int(o.states.TTL()/time.Second)))
	http.Redirect(w, r, target, http.StatusFound)
	return nil
}

// stateCookieFor is the login-state cookie: HttpOnly, SameSite=Lax (it
// must come back on the top-level redirect from the issuer), scoped to
// the callback path unless the __Host- prefix requires Path=/.
func (o *OIDCLogin) stateCookieFor(r *http.Request, value string, maxAge int) *http.Cookie {
	c := &http.Cookie{Name: o.stateCookie, Value: value, Path: o.callbackPath, MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil}
	if o.mgr.Config().HostPrefix {
		c.Path, c.Secure = "/", true
	}
	return c
}

// callback finishes the login: the domain checks the callback, then the
// same session as apigw_login starts.
func (o *OIDCLogin) callback(w http.ResponseWriter, r *http.Request) error {
	if err := getOnly(r); err != nil {
		return err
	}
	browser, _ := sessions.RequestCookie(r, o.stateCookie)
	login, err := o.rp.Finish(r.Context(), r.URL.RawQuery, browser)
	switch {
	case err == nil:
	case errors.Is(err, failure.ErrInvalidCredentials):
		p := problemFromError(err)
		Audit(r, "login_failed", p.Code, zap.String("method", "oidc"), zap.String("reason", p.Detail))
		return Fail(p)
	case oidc.IssuerDown(err):
		o.logger.Warn("OpenID provider unavailable", zap.String("issuer", o.Issuer), zap.Error(err))
		return Fail(oidcUnavailable("the login cannot be completed", err))
	default:
		o.logger.Error("reading login state failed", zap.Error(err))
		return Fail(problemFromError(err))
	}
	ended, sp := endPresentedSessions(r, o.mgr, o.logger)
	if sp != nil {
		return Fail(sp)
	}
	_, info, sp := startSession(w, r, o.mgr, o.logger, login.User, login.Metadata)
	if sp != nil {
		return Fail(sp)
	}
	if err := oidc.SaveIDToken(r.Context(), o.st, info.ID, login.IDToken, o.mgr.Config().Lifetime); err != nil {
		o.logger.Warn("keeping the ID token failed; logout will offer no id_token_hint", zap.Error(err))
	}
	// the login-state cookie has served its purpose (a failed callback
	// leaves it, so a forged callback cannot spoil a login in progress)
	http.SetCookie(w, o.stateCookieFor(r, "", -1))
	Audit(r, "login_succeeded", "", zap.String("method", "oidc"), zap.String("user", login.User), zap.String("session_id", info.ID), zap.Int("sessions_rotated", ended))
	http.Redirect(w, r, login.ReturnTo, http.StatusFound)
	return nil
}

// logout ends the session and offers RP-initiated logout.
func (o *OIDCLogin) logout(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPost {
		return Fail(problem.New(http.StatusMethodNotAllowed, problem.CodeMethodNotAllowed, "log out with POST").WithHeader("Allow", http.MethodPost))
	}
	if err := CheckSessionEndpointOrigin(r, o.policy, "logout"); err != nil {
		return err
	}
	name := o.mgr.CookieName()
	var sent int
	var handle string
	var lookupErr error
	sessions.CookieValues(r.Header, name, func(v string) bool {
		sent++
		s, err := o.mgr.Lookup(r.Context(), v)
		if err == nil {
			handle = s.ID
			return false
		}
		if !errors.Is(err, sessions.ErrInvalid) {
			lookupErr = err
			return false
		}
		return sent < 10
	})
	if lookupErr == nil && handle != "" {
		if _, sp := endPresentedSessions(r, o.mgr, o.logger); sp != nil {
			return Fail(sp)
		}
	}
	if lookupErr != nil {
		o.logger.Error("ending session failed", zap.Error(lookupErr))
		return Fail(problem.New(http.StatusServiceUnavailable, problem.CodeServiceUnavailable, "the session store is unavailable"))
	}
	if sent == 0 {
		return Fail(problem.New(http.StatusUnauthorized, problem.CodeMissingCredentials, "no session cookie: nothing to log out").
			WithHeader("WWW-Authenticate", sessionChallenge(name)))
	}
	http.SetCookie(w, o.mgr.ClearCookie(r.TLS != nil))
	if handle == "" {
		Audit(r, "logout_rejected", problem.CodeInvalidSession)
		return Fail(problem.New(http.StatusUnauthorized, problem.CodeInvalidSession, "the session is invalid, ended or expired").
			WithHeader("WWW-Authenticate", sessionChallenge(name)))
	}
	idToken, err := oidc.TakeIDToken(r.Context(), o.st, handle)
	if err != nil {
		o.logger.Warn("reading the ID token failed; logout offers no id_token_hint", zap.Error(err))
	}
	Audit(r, "logout", "", zap.String("method", "oidc"), zap.String("session_id", handle))
	endURL := o.rp.EndSessionURL(r.Context(), idToken)
	body, _ := json.Marshal(struct {
		EndSessionURL *string `json:"end_session_url"`
	}{endURL})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append(body, '\n'))
	return nil
}

// Interface guards
var (
	_ caddyhttp.MiddlewareHandler = (*OIDCLogin)(nil)
	_ caddy.Provisioner           = (*OIDCLogin)(nil)
)
