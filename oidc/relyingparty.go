package oidc

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/url"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/apigw/caddy-apigw/failure"
)

// RelyingParty is the client side of an OpenID Connect login:
// authorization code flow with PKCE S256, state and nonce, and
// client_secret_basic at the token endpoint.
type RelyingParty struct {
	// Disc is the issuer's discovery.
	Disc *Discovery
	// States keeps the logins in progress.
	States *States
	// ClientID, ClientSecret and RedirectURI are the registration.
	ClientID, ClientSecret, RedirectURI string
	// Scopes are requested; Algorithms is the ID token allow-list.
	Scopes, Algorithms []string
	// Mapping turns the ID token's claims into the user and metadata.
	Mapping ClaimMapping
	// LoginPath is named in the detail of a stale login state.
	LoginPath string
	// PostLogoutRedirectURI is sent in the end-session URL, if set.
	PostLogoutRedirectURI string
	// Timeout bounds the code exchange and the ID token verification.
	Timeout time.Duration
}

// Login is a finished login.
type Login struct {
	// User and Metadata are from the ID token's claims (Mapping).
	User     string
	Metadata map[string]string
	// IDToken is the raw ID token (for RP-initiated logout).
	IDToken string
	// ReturnTo is the checked local path to go to.
	ReturnTo string
}

// issuerDown marks the cause of a failure.ErrUnavailable that is an
// outage of the issuer (not of the store).
type issuerDown struct{ error }

func (e issuerDown) Unwrap() error { return e.error }

// IssuerDown reports whether err is an outage of the issuer, which
// recovers by itself (answer with Retry-After).
func IssuerDown(err error) bool {
	var d issuerDown
	return errors.As(err, &d)
}

func (rp *RelyingParty) oauth2Config(p *Provider) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     rp.ClientID,
		ClientSecret: rp.ClientSecret,
		Endpoint:     oauth2.Endpoint{AuthURL: p.Meta.AuthURL, TokenURL: p.Meta.TokenURL, AuthStyle: oauth2.AuthStyleInHeader},
		RedirectURL:  rp.RedirectURI,
		Scopes:       rp.Scopes,
	}
}

// Start begins a login that returns to returnTo (already checked): the
// issuer's authorization URL and the value of the browser's login-state
// cookie. Errors wrap failure.ErrUnavailable (the issuer, the store, or
// too many logins in progress: see PendingFullError).
func (rp *RelyingParty) Start(ctx context.Context, returnTo string) (authURL, cookie string, err error) {
	p, err := rp.Disc.Get(ctx)
	if err != nil {
		return "", "", err
	}
	state, cookie, ls, err := rp.States.Begin(ctx, returnTo)
	if err != nil {
		return "", "", err
	}
	return rp.oauth2Config(p).AuthCodeURL(state, gooidc.Nonce(ls.Nonce), oauth2.S256ChallengeOption(ls.Verifier)), cookie, nil
}

// callbackParams are the parameters a callback may carry (RFC 6749
// §4.1.2, RFC 9207 iss); any other, or any given twice, is refused.
var callbackParams = map[string]bool{"code": true, "state": true, "iss": true, "error": true, "error_description": true, "error_uri": true, "session_state": true}

func badCallback(detail string) error { return failure.New(failure.ErrInvalidCredentials, detail) }

// Finish checks a callback (its raw query, and browser: the value of the
// login-state cookie): the state is single use and bound to the browser
// that started the login; the code is exchanged with the PKCE verifier;
// the ID token is verified (signature, algorithm, iss, aud, exp, nonce,
// at_hash) and mapped. A callback that authenticates no one is
// failure.ErrInvalidCredentials (the detail says what failed, never
// echoing the input); an outage wraps failure.ErrUnavailable (IssuerDown
// tells the issuer's from the store's).
func (rp *RelyingParty) Finish(ctx context.Context, rawQuery, browser string) (*Login, error) {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, badCallback("the callback's query is malformed")
	}
	for k, v := range q {
		if !callbackParams[k] {
			return nil, badCallback("the callback has an unexpected parameter")
		}
		if len(v) != 1 {
			return nil, badCallback("the callback repeats the parameter " + k)
		}
	}
	state, code, errCode := q.Get("state"), q.Get("code"), q.Get("error")
	if state == "" {
		return nil, badCallback("the callback has no state")
	}
	ls, err := rp.States.Consume(ctx, state, browser)
	if errors.Is(err, ErrStateInvalid) {
		return nil, badCallback("the login state is unknown, expired, already used or was started in another browser: start again at " + rp.LoginPath)
	}
	if err != nil {
		return nil, err
	}
	if errCode != "" {
		return nil, badCallback("the OpenID provider refused the login (" + oauthErrorCode(errCode) + ")")
	}
	if code == "" {
		return nil, badCallback("the callback has no code")
	}
	if iss, ok := q["iss"]; ok && iss[0] != rp.Disc.Issuer() {
		return nil, badCallback("the callback's iss is not the configured issuer")
	}
	p, err := rp.Disc.Get(ctx)
	if err != nil {
		return nil, err
	}
	if _, ok := q["iss"]; !ok && p.Meta.IssInAuthResponse {
		// RFC 9207 §2.4: an issuer that names itself in every response
		// did not send this one (mix-up defence)
		return nil, badCallback("the callback has no iss, which the configured issuer always sends")
	}
	ctx, cancel := context.WithTimeout(rp.Disc.Context(ctx), rp.Timeout)
	defer cancel()
	tok, err := rp.oauth2Config(p).Exchange(ctx, code, oauth2.VerifierOption(ls.Verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode < 500 {
			return nil, badCallback("the code exchange failed (" + oauthErrorCode(re.ErrorCode) + ")")
		}
		return nil, rp.Disc.Unreachable(err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	if rawID == "" {
		return nil, badCallback("the token response has no ID token")
	}
	idt, err := p.OIDC.Verifier(&gooidc.Config{ClientID: rp.ClientID, SupportedSigningAlgs: rp.Algorithms}).Verify(ctx, rawID)
	if err != nil {
		return nil, badCallback("the ID token is invalid (signature, algorithm, issuer, audience or expiry)")
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(ls.Nonce)) != 1 {
		return nil, badCallback("the ID token's nonce does not match the login")
	}
	if idt.AccessTokenHash != "" && idt.VerifyAccessToken(tok.AccessToken) != nil {
		return nil, badCallback("the ID token's at_hash does not match the access token")
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return nil, badCallback("the ID token's claims cannot be read")
	}
	user, meta, err := rp.Mapping.Identity(claims)
	if err != nil {
		return nil, badCallback(err.Error())
	}
	return &Login{User: user, Metadata: meta, IDToken: rawID, ReturnTo: ls.ReturnTo}, nil
}

// EndSessionURL returns the issuer's RP-initiated logout URL for a
// session whose ID token was idToken ("" when unknown): the
// end_session_endpoint with id_token_hint, client_id and
// post_logout_redirect_uri; nil when the issuer advertises none or cannot
// be reached.
func (rp *RelyingParty) EndSessionURL(ctx context.Context, idToken string) *string {
	p, err := rp.Disc.Get(ctx)
	if err != nil || p.Meta.EndSessionURL == "" {
		return nil
	}
	u, err := url.Parse(p.Meta.EndSessionURL)
	if err != nil {
		return nil
	}
	q := u.Query()
	if idToken != "" {
		q.Set("id_token_hint", idToken)
	}
	q.Set("client_id", rp.ClientID)
	if rp.PostLogoutRedirectURI != "" {
		q.Set("post_logout_redirect_uri", rp.PostLogoutRedirectURI)
	}
	u.RawQuery = q.Encode()
	s := u.String()
	return &s
}

// oauthErrorCode returns an OAuth error code fit to repeat (RFC 6749
// error codes are %x20-21 / %x23-5B / %x5D-7E; we allow [a-z_] only).
func oauthErrorCode(s string) string {
	if s == "" || len(s) > 64 {
		return "unknown error"
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c == '_') {
			return "unknown error"
		}
	}
	return s
}
