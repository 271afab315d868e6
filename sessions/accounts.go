package sessions

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/apigw/caddy-apigw/failure"
)

// Comparer compares a plaintext password with a stored hash in constant
// time. Caddy's http.authentication.hashes.* modules (bcrypt, argon2id)
// implement it.
type Comparer interface {
	Compare(hashed, plaintext []byte) (bool, error)
}

// Accounts checks usernames and passwords against hashed passwords.
type Accounts struct {
	hashes map[string][]byte
	meta   map[string]map[string]string
	cmp    Comparer
	decoy  []byte
}

// Account is one account of a login.
type Account struct {
	// User is the login name; it becomes the session's user.
	User string
	// Hash is the password hash in the comparer's format.
	Hash string
	// Scopes and Roles are granted to the account's sessions (as the
	// "scope" and "roles" metadata).
	Scopes, Roles []string
}

// LoadAccounts checks list (no empty user or hash, no user twice and,
// when bcryptHashes is set, every hash a bcrypt hash) and returns its
// accounts checked with cmp, each with its sessions' metadata.
func LoadAccounts(list []Account, cmp Comparer, bcryptHashes bool) (*Accounts, error) {
	users := make(map[string]string, len(list))
	meta := make(map[string]map[string]string, len(list))
	for i, a := range list {
		if a.User == "" || a.Hash == "" {
			return nil, fmt.Errorf("account #%d has an empty username or password hash", i+1)
		}
		if _, dup := users[a.User]; dup {
			return nil, fmt.Errorf("account %q is listed twice", a.User)
		}
		if bcryptHashes {
			if _, err := bcrypt.Cost([]byte(a.Hash)); err != nil {
				return nil, fmt.Errorf("account %q: password is not a bcrypt hash (%v): use `caddy hash-password` output", a.User, err)
			}
		}
		users[a.User] = a.Hash
		m := map[string]string{}
		if len(a.Scopes) > 0 {
			m["scope"] = strings.Join(a.Scopes, " ")
		}
		if len(a.Roles) > 0 {
			m["roles"] = strings.Join(a.Roles, " ")
		}
		if len(m) > 0 {
			meta[a.User] = m
		}
	}
	accts, err := NewAccounts(users, cmp)
	if err != nil {
		return nil, err
	}
	accts.meta = meta
	return accts, nil
}

var errBadLogin = failure.New(failure.ErrInvalidCredentials, "the username or password is incorrect")

// Login checks user's password (see Check) and returns the metadata of
// the account's sessions. A wrong password or an unknown user is a
// failure.ErrInvalidCredentials; any other error is a technical failure
// (e.g. a malformed hash), never a wrong password.
func (a *Accounts) Login(user, password string) (map[string]string, error) {
	ok, err := a.Check(user, password)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errBadLogin
	}
	return a.meta[user], nil
}

// NewAccounts returns the account list users (name → hash) checked with
// cmp. Unknown users are checked against a decoy: the hash of the
// most expensive real account (for bcrypt, the highest cost), so a
// login for a user who does not exist costs what a real one costs.
func NewAccounts(users map[string]string, cmp Comparer) (*Accounts, error) {
	if cmp == nil {
		return nil, errors.New("sessions: no password comparer")
	}
	if len(users) == 0 {
		return nil, errors.New("no accounts configured: add `account <user> <hash>` (hash from `caddy hash-password`)")
	}
	a := &Accounts{hashes: make(map[string][]byte, len(users)), cmp: cmp}
	for u, h := range users {
		if u == "" || h == "" {
			return nil, errors.New("account with an empty user or hash")
		}
		a.hashes[u] = []byte(h)
		if a.decoy == nil || cost(h) > cost(string(a.decoy)) || (cost(h) == cost(string(a.decoy)) && h < string(a.decoy)) {
			a.decoy = []byte(h)
		}
	}
	return a, nil
}

// Known reports whether user is a configured account (for audit logs
// only: never base an answer to the client on it).
func (a *Accounts) Known(user string) bool {
	_, ok := a.hashes[user]
	return ok
}

// cost returns the cost of a bcrypt hash ("$2a$12$..."), or 0.
func cost(h string) int {
	if len(h) > 7 && h[0] == '$' && h[1] == '2' && h[3] == '$' && h[6] == '$' {
		return int(h[4]-'0')*10 + int(h[5]-'0')
	}
	return 0
}

// Check reports whether password is user's password. It does the same
// work for unknown users (a compare against the decoy hash with a random
// password that can never match), so neither answer nor timing tells
// whether the user exists. An error means a technical failure (e.g. a
// malformed hash), not a wrong password.
func (a *Accounts) Check(user, password string) (bool, error) {
	hash, known := a.hashes[user]
	if !known {
		var junk [24]byte
		_, _ = rand.Read(junk[:])
		_, err := a.cmp.Compare(a.decoy, junk[:])
		if err != nil {
			return false, fmt.Errorf("checking password: %w", err)
		}
		return false, nil
	}
	ok, err := a.cmp.Compare(hash, []byte(password))
	if err != nil {
		return false, fmt.Errorf("checking password of an account: %w", err)
	}
	return ok, nil
}
