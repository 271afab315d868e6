package caddymodule

import (
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"

	"github.com/apigw/caddy-apigw/authn"
	"github.com/apigw/caddy-apigw/problem"
)

// DefaultUserHeader is the upstream header carrying the authenticated user
// id unless a provider configures another.
const DefaultUserHeader = "X-Auth-User"

// DefaultMethodHeader carries the auth method ("api_key", "jwt", "session").
const DefaultMethodHeader = "X-Auth-Method"

// Replacer keys of the auth providers (kept on the Caddy side: the domain
// packages know nothing of Caddy's replacer).
const (
	// IdentityVar is the replacer key under which providers store the
	// request's *authn.Identity.
	IdentityVar = "apigw.identity"
	// AuthProblemVar is the replacer key under which a provider that
	// rejected credentials stores its *problem.Problem, so the renderer
	// can tell missing, invalid and expired credentials apart (Caddy's
	// authentication handler itself only knows "not authenticated").
	AuthProblemVar = "apigw.auth.problem"
)

// PublishIdentity makes id the request's identity: it stores it under
// IdentityVar for authorization and other modules, removes every
// client-sent copy of the identity headers (a client must never be able
// to claim an identity by sending X-Auth-User itself) and sets them from
// id. It returns the caddyauth.User for Caddy's authentication handler, so
// {http.auth.user.id} and {http.auth.user.<metadata>} work as usual (the
// metadata placeholders are set here, see IdentityPublisher).
// Providers publish through an IdentityPublisher made at provision, which
// builds the placeholders and header values once per identity.
func PublishIdentity(r *http.Request, id *authn.Identity, hdr IdentityHeaders) caddyauth.User {
	p := IdentityPublisher{hdr: hdr}
	var pub publishedIdentity
	p.buildInto(&pub, id)
	return p.publish(r, id, &pub, false)
}

// IdentityPublisher is PublishIdentity for one provider's header
// configuration. What it derives from an identity (the metadata
// placeholders with their values already boxed, the upstream header names
// and values) is computed once per identity and reused: an identity from
// the verified-token cache, a configured API key or the session cache is
// published with one allocation (the request's own header values).
type IdentityPublisher struct {
	hdr IdentityHeaders
}

// NewIdentityPublisher returns the publisher for hdr.
func NewIdentityPublisher(hdr IdentityHeaders) *IdentityPublisher {
	return &IdentityPublisher{hdr: hdr}
}

// Publish is PublishIdentity with the publisher's configuration.
func (p *IdentityPublisher) Publish(r *http.Request, id *authn.Identity) caddyauth.User {
	pub := id.Derive(p, func() any {
		pub := new(publishedIdentity)
		p.buildInto(pub, id)
		return pub
	}).(*publishedIdentity)
	return p.publish(r, id, pub, true)
}

// userPlaceholderPrefix is the namespace of Caddy's authentication
// handler for the authenticated user: {http.auth.user.id}, and
// {http.auth.user.<name>} for each metadata entry.
const userPlaceholderPrefix = "http.auth.user."

// publishedIdentity is what an identity looks like to Caddy and the
// upstream under one header configuration. It is shared: read-only.
type publishedIdentity struct {
	// vars are the metadata placeholders, each value boxed once: Caddy's
	// authentication handler would build the key and box the value of
	// every metadata entry on every request (two allocations each), so
	// the published caddyauth.User carries no metadata and publish sets
	// these instead (the same keys and values).
	vars []identityVar
	// userID is what {http.auth.user.id} ends up as: the identity's id,
	// or a string "id" metadata entry, which Caddy's handler sets after
	// the id and so overrides it.
	userID string
	// hv holds upstream headers to set, in this order: canonical name,
	// value, name, value…
	hv []string
}

// identityVar is one {http.auth.user.<name>} placeholder.
type identityVar struct {
	key string // "http.auth.user.<name>"
	str string // the value
	val any    // str, boxed
}

func (v *identityVar) name() string { return v.key[len(userPlaceholderPrefix):] }

// metadata returns the value of the metadata entry name.
func (pub *publishedIdentity) metadata(name string) (string, bool) {
	for i := range pub.vars {
		if v := &pub.vars[i]; v.name() == name {
			return v.str, true
		}
	}
	return "", false
}

func (p *IdentityPublisher) buildInto(pub *publishedIdentity, id *authn.Identity) {
	pub.vars = make([]identityVar, 0, len(id.Claims)+3)
	pub.hv = make([]string, 0, 2*(2+len(p.hdr.Claims)))
	set := func(name, v string) {
		pub.hv = append(pub.hv, http.CanonicalHeaderKey(name), v)
	}
	userHdr := p.hdr.User
	if userHdr == "" {
		userHdr = DefaultUserHeader
	}
	if userHdr != "-" {
		set(userHdr, id.ID)
	}
	set(DefaultMethodHeader, id.Method)
	meta := func(name, v string) {
		pub.vars = append(pub.vars, identityVar{key: userPlaceholderPrefix + name, str: v, val: v})
	}
	meta("method", id.Method)
	if len(id.Scopes) > 0 {
		meta("scope", strings.Join(id.Scopes, " "))
	}
	if len(id.Roles) > 0 {
		meta("roles", strings.Join(id.Roles, " "))
	}
	for k, v := range id.Claims {
		if s, ok := v.(string); ok {
			if _, taken := pub.metadata(k); !taken {
				meta(k, s)
			}
		}
	}
	pub.userID = id.ID
	if v, ok := pub.metadata("id"); ok {
		pub.userID = v
	}
	for claim, header := range p.hdr.Claims {
		// a claim with CR/LF or NUL cannot travel as a header: leave it out
		// (the proxy would fail with a 502, or it would inject a header)
		if v, ok := pub.metadata(claim); ok && authn.ValidHeaderValue(v) {
			set(header, v)
		}
	}
}

// publish sets pub on r. A shared pub (from Derive) gives the request its
// own copy of the header values (one allocation): a later handler may
// edit a header value in place. The placeholder values are immutable
// strings, shared safely.
func (p *IdentityPublisher) publish(r *http.Request, id *authn.Identity, pub *publishedIdentity, shared bool) caddyauth.User {
	observeAuthSuccess(id.Method)
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		repl.Set(IdentityVar, id)
		repl.Delete(AuthProblemVar)
		for i := range pub.vars {
			// Caddy's handler sets {http.auth.user.id} from the User
			if v := &pub.vars[i]; v.key != userPlaceholderPrefix+"id" {
				repl.Set(v.key, v.val)
			}
		}
	}
	StripIdentityHeaders(r, p.hdr)
	hv := pub.hv
	if shared {
		hv = make([]string, len(pub.hv))
		copy(hv, pub.hv)
	}
	for i := 0; i+1 < len(hv); i += 2 {
		r.Header[hv[i]] = hv[i+1 : i+2 : i+2]
	}
	return caddyauth.User{ID: pub.userID}
}

// StripIdentityHeaders removes client-sent identity headers: X-Auth-*
// and the configured ones.
func StripIdentityHeaders(r *http.Request, hdr IdentityHeaders) {
	for name := range r.Header {
		if len(name) > 7 && strings.EqualFold(name[:7], "X-Auth-") {
			delete(r.Header, name)
		}
	}
	if hdr.User != "" && hdr.User != "-" {
		r.Header.Del(hdr.User)
	}
	for _, h := range hdr.Claims {
		r.Header.Del(h)
	}
}

// RecordAuthFailure remembers why a provider rejected the request, so the
// renderer answers with p (code, detail, WWW-Authenticate) instead of a
// generic 401. A problem about presented-but-bad credentials wins over
// missing_credentials from another provider.
func RecordAuthFailure(r *http.Request, p *problem.Problem) {
	repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if !ok {
		return
	}
	if v, ok := repl.Get(AuthProblemVar); ok {
		if prev, ok := v.(*problem.Problem); ok && prev.Code != problem.CodeMissingCredentials && p.Code == problem.CodeMissingCredentials {
			return
		}
	}
	repl.Set(AuthProblemVar, p)
}

// IdentityOf returns the identity a provider published for r, or nil.
func IdentityOf(r *http.Request) *authn.Identity {
	repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if !ok {
		return nil
	}
	if v, ok := repl.Get(IdentityVar); ok {
		id, _ := v.(*authn.Identity)
		return id
	}
	return nil
}
