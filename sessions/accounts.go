package sessions

import (
	"crypto/rand"
	"errors"
	"fmt"
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
	cmp    Comparer
	decoy  []byte
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
