package oidc

import (
	"crypto/tls"
	"errors"
	"testing"

	"github.com/apigw/caddy-apigw/failure"
)

// Admit: every refusal is invalid_token, the DPoP-binding ones ask for
// the DPoP challenge, and an accepted answer maps to the identity.
func TestAdmit(t *testing.T) {
	type refusal struct {
		res  Result
		p    Presentation
		dpop bool // refusal wants the DPoP challenge
	}
	for name, tc := range map[string]refusal{
		"inactive":                          {Result{}, Presentation{}, false},
		"no user":                           {Result{Active: true}, Presentation{}, false},
		"unknown cnf":                       {Result{Active: true, Sub: "u", CnfUnknown: true}, Presentation{}, false},
		"certificate-bound over plain http": {Result{Active: true, Sub: "u", CnfX5T: "x"}, Presentation{}, false},
		"certificate-bound, no client cert": {Result{Active: true, Sub: "u", CnfX5T: "x"}, Presentation{TLS: &tls.ConnectionState{}}, false},
		"DPoP-bound as Bearer":              {Result{Active: true, Sub: "u", CnfJKT: "j"}, Presentation{}, true},
		"Bearer where DPoP is required":     {Result{Active: true, Sub: "u"}, Presentation{DPoPRequired: true}, true},
		"unbound as DPoP":                   {Result{Active: true, Sub: "u"}, Presentation{DPoP: true}, true},
	} {
		_, err := tc.res.Admit(tc.p)
		if !errors.Is(err, failure.ErrInvalidToken) || failure.Detail(err) == "" || errors.Is(err, ErrDPoPChallenge) != tc.dpop {
			t.Errorf("%s: %v (dpop challenge want %v)", name, err, tc.dpop)
		}
	}
	id, err := (&Result{Active: true, ClientID: "svc", Scopes: []string{"a"}, CnfJKT: "j"}).Admit(Presentation{DPoP: true})
	if err != nil || id.ID != "svc" || id.Method != MethodDPoP || id.Claims["client_id"] != "svc" || len(id.Scopes) != 1 {
		t.Fatalf("identity %+v, %v", id, err)
	}
	id, err = (&Result{Active: true, Sub: "bob", Username: "Bob"}).Admit(Presentation{})
	if err != nil || id.ID != "bob" || id.Method != MethodIntrospection || id.Claims["username"] != "Bob" {
		t.Fatalf("identity %+v, %v", id, err)
	}
}
