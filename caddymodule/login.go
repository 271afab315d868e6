package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"
	"github.com/dustin/go-humanize"
	"go.uber.org/zap"

	"github.com/apigw/caddy-apigw/failure"
	"github.com/apigw/caddy-apigw/problem"
	"github.com/apigw/caddy-apigw/sessions"
	"github.com/apigw/caddy-apigw/validation"
)

func init() {
	caddy.RegisterModule(Login{})
	registerGatewayHandlerDirective("apigw_login", parseLogin)
}

// DefaultLoginMaxBody caps login request bodies.
const DefaultLoginMaxBody = 16 << 10

// Limits on login fields (bcrypt reads at most 72 bytes of a password;
// the cap keeps other hashes' work bounded too).
const (
	maxUsernameLen = 256
	maxPasswordLen = 1024
)

// LoginAccount is one account apigw_login accepts.
type LoginAccount struct {
	// Username is the login name; it becomes the session's user id.
	// Placeholders ({env.*}) are expanded at provision.
	Username string `json:"username"`
	// Password is the password hash in the configured algorithm's format,
	// e.g. `caddy hash-password` output ("$2a$14$..." for bcrypt).
	// Placeholders ({env.*}, {file.*}) are expanded at provision.
	Password string `json:"password"`
	// Scopes are granted to the account's sessions (for apigw_authorize).
	Scopes []string `json:"scopes,omitempty"`
	// Roles are granted to the account's sessions (for apigw_authorize).
	Roles []string `json:"roles,omitempty"`
}

// Login is a terminal handler that checks a username and password and
// starts a session. It accepts POST with a JSON body
// {"username": "...", "password": "..."} or an
// application/x-www-form-urlencoded form with the same fields. On success
// it answers 200 with {"user", "session_id", "expires", "csrf_token"} and
// sets the session cookie (HttpOnly, SameSite, Secure over HTTPS, Path=/).
// Any session cookie sent with the login request is ended first, so a
// session planted before login never becomes the logged-in session.
// Unknown users and wrong passwords get the same 401 invalid_credentials
// after the same work.
type Login struct {
	// Accounts are the accepted users.
	Accounts []LoginAccount `json:"accounts,omitempty"`
	// HashRaw is the password hash algorithm, an
	// http.authentication.hashes module. Default: bcrypt.
	HashRaw json.RawMessage `json:"hash,omitempty" caddy:"namespace=http.authentication.hashes inline_key=algorithm"`
	// MaxBody caps the request body in bytes (larger: 413). Default: 16 KiB.
	MaxBody int64 `json:"max_body,omitempty"`
	// TrustedOrigins lists other sites ("https://app.example.com") whose
	// pages may post to the login. Against login CSRF (another site
	// logging the victim into the attacker's account), a login whose
	// Sec-Fetch-Site is cross-site, or (without Sec-Fetch-Site) whose
	// Origin is neither this site nor trusted, gets 403 csrf_rejected.
	// Same-site pages and clients without these headers are not affected.
	TrustedOrigins []string `json:"trusted_origins,omitempty"`
	// AllowCrossSite turns that check off. Default: false.
	AllowCrossSite bool `json:"allow_cross_site,omitempty"`

	policy   sessions.OriginPolicy
	accounts *sessions.Accounts
	mgr      *sessions.Manager
	logger   *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Login) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.apigw_login",
		New: func() caddy.Module { return new(Login) },
	}
}

// Provision loads the hash module and the accounts.
func (l *Login) Provision(ctx caddy.Context) error {
	l.logger = ctx.Logger()
	if l.MaxBody <= 0 {
		l.MaxBody = DefaultLoginMaxBody
	}
	if l.HashRaw == nil {
		l.HashRaw = json.RawMessage(`{"algorithm":"bcrypt"}`)
	}
	mod, err := ctx.LoadModule(l, "HashRaw")
	if err != nil {
		return fmt.Errorf("apigw_login: loading password hash module: %v", err)
	}
	cmp, ok := mod.(caddyauth.Comparer)
	if !ok {
		return fmt.Errorf("apigw_login: hash module %T cannot compare passwords", mod)
	}
	_, isBcrypt := mod.(*caddyauth.BcryptHash)
	if l.policy, err = sessions.EndpointPolicy(l.TrustedOrigins); err != nil {
		return fmt.Errorf("apigw_login %w", err)
	}
	repl := caddy.NewReplacer()
	list := make([]sessions.Account, len(l.Accounts))
	for i, a := range l.Accounts {
		list[i] = sessions.Account{User: repl.ReplaceKnown(a.Username, ""), Hash: repl.ReplaceKnown(a.Password, ""), Scopes: a.Scopes, Roles: a.Roles}
	}
	if l.accounts, err = sessions.LoadAccounts(list, cmp, isBcrypt); err != nil {
		return fmt.Errorf("apigw_login: %w", err)
	}
	l.mgr, err = provisionSessions(ctx, "apigw_login")
	return err
}

// loginResponse is the body of a successful login.
type loginResponse struct {
	User      string    `json:"user"`
	SessionID string    `json:"session_id"`
	Expires   time.Time `json:"expires"`
	CSRFToken string    `json:"csrf_token"`
}

// ServeHTTP checks the credentials and starts a session. It is terminal.
func (l *Login) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	if r.Method != http.MethodPost {
		return Fail(problem.New(http.StatusMethodNotAllowed, problem.CodeMethodNotAllowed, "log in with POST").WithHeader("Allow", http.MethodPost))
	}
	if !l.AllowCrossSite {
		if err := CheckSessionEndpointOrigin(r, l.policy, "login"); err != nil {
			return err
		}
	}
	user, pass, perr := l.readCredentials(r)
	if perr != nil {
		Audit(r, "login_rejected", perr.Code)
		return Fail(perr)
	}
	meta, err := l.accounts.Login(user, pass)
	if err != nil && !errors.Is(err, failure.ErrInvalidCredentials) {
		// a technical failure (e.g. a corrupt hash), never the password
		l.logger.Error("password check failed", zap.Error(err))
		return Fail(problem.New(http.StatusInternalServerError, problem.CodeInternalError, "the login could not be checked"))
	}
	// Rotation: any session the client brought ends now, whether or not
	// the login succeeds; it never becomes the new session.
	ended, sp := endPresentedSessions(r, l.mgr, l.logger)
	if sp != nil {
		return Fail(sp)
	}
	if err != nil {
		if ended > 0 {
			http.SetCookie(w, l.mgr.ClearCookie(r.TLS != nil))
		}
		// An unknown username is not logged verbatim: it is often a
		// password typed into the wrong field. Its keyed hash still lets
		// an operator see the same name tried again (see attemptHash).
		userFields := []zap.Field{zap.String("user", user)}
		if !l.accounts.Known(user) {
			userFields = []zap.Field{zap.String("user", "(unknown)"), zap.String("user_hash", attemptHash(user))}
		}
		p := problemFromError(err)
		Audit(r, "login_failed", p.Code, userFields...)
		return Fail(p.WithHeader("WWW-Authenticate", sessionChallenge(l.mgr.CookieName())))
	}
	token, info, sp := startSession(w, r, l.mgr, l.logger, user, meta)
	if sp != nil {
		return Fail(sp)
	}
	Audit(r, "login_succeeded", "", zap.String("user", user), zap.String("session_id", info.ID), zap.Int("sessions_rotated", ended))
	body, _ := json.Marshal(loginResponse{User: user, SessionID: info.ID, Expires: info.Created.Add(l.mgr.Config().Lifetime).UTC(), CSRFToken: sessions.CSRFToken(token)})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append(body, '\n'))
	return nil
}

// badLogin is a 400: bad_request, or validation_failed with the field
// errors (and a generic detail when none is given).
func badLogin(detail string, fields ...problem.FieldError) *problem.Problem {
	if detail == "" && len(fields) > 0 {
		detail = "the login request is incomplete or invalid"
	}
	p := problem.New(http.StatusBadRequest, problem.CodeBadRequest, detail)
	if len(fields) > 0 {
		p.Code = problem.CodeValidationFailed
		p.Errors = fields
	}
	return p
}

// loginBody is what apigw_login takes as a body (Max is the handler's).
var loginBody = validation.BodyRules{
	MediaTypes: []string{"application/json", "application/x-www-form-urlencoded"},
	Missing:    validation.TypeRequired,
	Charset:    validation.CharsetUTF8,
	TypeFirst:  true,
	Words: validation.BodyWords{
		MediaType:   "send the credentials as application/json or application/x-www-form-urlencoded",
		Charset:     "only the utf-8 charset is supported",
		TooLarge:    func(limit int64) string { return tooLarge(limit).Detail },
		Empty:       `the request body is empty: send {"username": ..., "password": ...}`,
		Syntax:      "the request body is not valid JSON (syntax error at byte %d)",
		Truncated:   "the request body is truncated JSON",
		Trailing:    "the request body holds data after the JSON object",
		MoreValues:  "the request body holds more than one JSON value",
		NotObject:   "the request body must be a JSON object with username and password",
		FieldType:   "%[1]s must be %[2]s",
		Invalid:     "the login request is incomplete or invalid",
		Undecodable: "the request body is not valid JSON",
	},
}

// readCredentials reads and checks the body; the problem explains what is
// wrong without echoing the input.
func (l *Login) readCredentials(r *http.Request) (string, string, *problem.Problem) {
	rules := loginBody
	rules.Max = l.MaxBody
	body, err := rules.Read(r, nil)
	if err != nil {
		p := problemWithFields(err)
		if errors.Is(err, failure.ErrUnsupportedMediaType) && !errors.Is(err, validation.ErrCharset) {
			p = p.WithHeader("Accept-Post", "application/json, application/x-www-form-urlencoded")
		}
		return "", "", p
	}
	var user, pass string
	var haveUser, havePass bool
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/json" {
		var in struct {
			Username *string `json:"username"`
			Password *string `json:"password"`
		}
		if err := rules.Decode(body, &in, false); err != nil {
			return "", "", problemWithFields(err)
		}
		if in.Username != nil {
			user, haveUser = *in.Username, true
		}
		if in.Password != nil {
			pass, havePass = *in.Password, true
		}
	} else {
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return "", "", badLogin("the form body is not valid application/x-www-form-urlencoded data")
		}
		for _, f := range []string{"username", "password"} {
			if len(form[f]) > 1 {
				return "", "", badLogin("", problem.FieldError{Field: "/" + f, Rule: "single", Message: "the field is given more than once"})
			}
		}
		_, haveUser = form["username"]
		_, havePass = form["password"]
		user, pass = form.Get("username"), form.Get("password")
	}
	var fields []problem.FieldError
	switch {
	case !haveUser || user == "":
		fields = append(fields, problem.FieldError{Field: "/username", Rule: "required", Message: "username is required"})
	case len(user) > maxUsernameLen:
		fields = append(fields, problem.FieldError{Field: "/username", Rule: "maxLength", Message: "username is longer than " + strconv.Itoa(maxUsernameLen) + " bytes"})
	}
	switch {
	case !havePass || pass == "":
		fields = append(fields, problem.FieldError{Field: "/password", Rule: "required", Message: "password is required"})
	case len(pass) > maxPasswordLen:
		fields = append(fields, problem.FieldError{Field: "/password", Rule: "maxLength", Message: "password is longer than " + strconv.Itoa(maxPasswordLen) + " bytes"})
	}
	if len(fields) > 0 {
		return "", "", badLogin("the login request is incomplete or invalid", fields...)
	}
	return user, pass, nil
}

// tooLarge is the 413 of a body over max bytes (login, signatures).
func tooLarge(max int64) *problem.Problem {
	return problem.New(http.StatusRequestEntityTooLarge, problem.CodePayloadTooLarge,
		"the request body is larger than "+humanize.IBytes(uint64(max)))
}

// parseLogin sets up the login handler from Caddyfile tokens. Syntax:
//
//	apigw_login [<matcher>] [<hash_algorithm>] {
//	    account <username> <hashed_password> [{
//	        scopes <scope>...
//	        roles  <role>...
//	    }]
//	    max_body <size>          # default 16KiB
//	    trusted_origin <origin>...   # other sites whose pages may log in
//	    allow_cross_site         # turn off the login CSRF check
//	}
//
// hash_algorithm is bcrypt (default) or argon2id; hashes are
// `caddy hash-password` output.
func parseLogin(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	h.Next() // consume directive name
	l := new(Login)
	if h.NextArg() {
		switch alg := h.Val(); alg {
		case "bcrypt":
			l.HashRaw = caddyconfig.JSONModuleObject(caddyauth.BcryptHash{}, "algorithm", "bcrypt", nil)
		case "argon2id":
			l.HashRaw = caddyconfig.JSONModuleObject(caddyauth.Argon2idHash{}, "algorithm", "argon2id", nil)
		default:
			return nil, h.Errf("apigw_login: unrecognized hash algorithm %q: use bcrypt or argon2id", alg)
		}
		if h.NextArg() {
			return nil, h.ArgErr()
		}
	}
	for h.NextBlock(0) {
		switch opt := h.Val(); opt {
		case "account":
			var a LoginAccount
			if !h.Args(&a.Username, &a.Password) {
				return nil, h.ArgErr()
			}
			if h.NextArg() {
				return nil, h.Errf("apigw_login: account %s: too many arguments (want `account <username> <hashed_password>`)", a.Username)
			}
			for nesting := h.Nesting(); h.NextBlock(nesting); {
				switch sub := h.Val(); sub {
				case "scopes":
					a.Scopes = append(a.Scopes, h.RemainingArgs()...)
				case "roles":
					a.Roles = append(a.Roles, h.RemainingArgs()...)
				default:
					return nil, h.Errf("apigw_login: account %s: unrecognized option %q (known: scopes, roles)", a.Username, sub)
				}
			}
			l.Accounts = append(l.Accounts, a)
		case "max_body":
			var err error
			if l.MaxBody, err = parseMaxBody(h, "apigw_login", "16KiB"); err != nil {
				return nil, err
			}
		case "trusted_origin", "allow_cross_site":
			if err := parseOriginOption(h, "apigw_login", &l.TrustedOrigins, &l.AllowCrossSite); err != nil {
				return nil, err
			}
		default:
			return nil, h.Errf("apigw_login: unrecognized option %q (known: account, max_body, trusted_origin, allow_cross_site)", opt)
		}
	}
	if len(l.Accounts) == 0 {
		return nil, h.Err("apigw_login: no accounts: add `account <username> <hash>` (hash from `caddy hash-password`)")
	}
	return l, nil
}

// Interface guards
var (
	_ caddyhttp.MiddlewareHandler = (*Login)(nil)
	_ caddy.Provisioner           = (*Login)(nil)
)
