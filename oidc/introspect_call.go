package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/apigw/caddy-apigw/failure"
)

// wire is the RFC 7662 answer as sent.
type wire struct {
	Active    *bool                      `json:"active"`
	Scope     json.RawMessage            `json:"scope"`
	ClientID  string                     `json:"client_id"`
	Username  string                     `json:"username"`
	TokenType string                     `json:"token_type"`
	Exp       json.Number                `json:"exp"`
	Sub       string                     `json:"sub"`
	Cnf       map[string]json.RawMessage `json:"cnf"`
}

// unavailable is the failure for an answer that could not be had; the
// detail names the issuer and never holds the token or the secret.
func (in *Introspector) unavailable(detail string, err error) error {
	if in.IssuerLabel != "" {
		detail += " (OpenID provider " + in.IssuerLabel + ")"
	}
	return failure.Wrap(failure.ErrUnavailable, detail, err)
}

func (in *Introspector) call(ctx context.Context, token string) (*Result, error) {
	endpoint, err := in.Endpoint(ctx)
	if errors.Is(err, failure.ErrUnavailable) {
		return nil, err // the issuer is down: its own detail
	}
	if err != nil {
		return nil, in.unavailable("the introspection endpoint is unknown (issuer unreachable)", err)
	}
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, in.unavailable("the introspection endpoint URL is invalid", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	// RFC 6749 §2.3.1: client_secret_basic form-encodes id and secret
	req.SetBasicAuth(url.QueryEscape(in.ClientID), url.QueryEscape(in.ClientSecret))
	in.calls.Add(1)
	client := in.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, in.unavailable("the introspection endpoint is unreachable", errors.Unwrap(err))
	}
	defer resp.Body.Close()
	max := in.MaxBody
	if max <= 0 {
		max = DefaultIntrospectionMaxBody
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, in.unavailable("the introspection answer could not be read", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, in.unavailable(fmt.Sprintf("the introspection endpoint answered %d", resp.StatusCode), errors.New(resp.Status))
	}
	if int64(len(body)) > max {
		return nil, in.unavailable(fmt.Sprintf("the introspection answer is larger than %d bytes", max), errors.New("answer too large"))
	}
	var w wire
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	if err := dec.Decode(&w); err != nil {
		return nil, in.unavailable("the introspection answer is not a JSON object", err)
	}
	if w.Active == nil {
		return nil, in.unavailable("the introspection answer has no boolean active member", errors.New("no active"))
	}
	if !*w.Active {
		return inactive, nil
	}
	if !accessTokenType(w.TokenType) {
		// a refresh token is introspected as active too (oidc-provider
		// then sends no token_type): it must not open the API
		return inactive, nil
	}
	res := &Result{Active: true, Sub: w.Sub, ClientID: w.ClientID, Username: w.Username, TokenType: w.TokenType}
	if len(w.Scope) > 0 && string(w.Scope) != "null" {
		if json.Unmarshal(w.Scope, &res.Scope) != nil {
			return nil, in.unavailable("the introspection answer's scope is not a string", errors.New("bad scope"))
		}
		res.Scopes = strings.Fields(res.Scope)
	}
	if w.Exp != "" {
		f, err := w.Exp.Float64()
		if err != nil {
			return nil, in.unavailable("the introspection answer's exp is not a number", err)
		}
		res.Exp = time.Unix(int64(f), 0)
		if !res.Exp.After(in.clock()) {
			return inactive, nil
		}
	}
	if w.Cnf != nil {
		// any cnf binds the token: one whose method the gateway cannot
		// check (jwk, kid, an empty object) must not pass as Bearer
		str := func(name string) (string, bool) {
			raw, ok := w.Cnf[name]
			if !ok {
				return "", true
			}
			var v string
			return v, json.Unmarshal(raw, &v) == nil
		}
		jkt, ok1 := str("jkt")
		x5t, ok2 := str("x5t#S256")
		if !ok1 || !ok2 {
			return nil, in.unavailable("the introspection answer's cnf members are not strings", errors.New("bad cnf"))
		}
		res.CnfJKT, res.CnfX5T = jkt, x5t
		res.CnfUnknown = jkt == "" && x5t == ""
	}
	return res, nil
}

// accessTokenType reports whether an introspection answer's token_type
// names an access token. It is required: issuers answer active for
// refresh tokens too, which carry no token_type (oidc-provider) or one
// such as "refresh_token" (RFC 8693 §3 names, Hydra, Keycloak).
func accessTokenType(t string) bool {
	switch strings.ToLower(t) {
	case "bearer", "dpop", "access_token", "urn:ietf:params:oauth:token-type:access_token":
		return true
	}
	return false
}
