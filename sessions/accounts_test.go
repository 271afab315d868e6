package sessions

import (
	"bytes"
	"errors"
	"testing"
)

// countingComparer records which hash each compare used.
type countingComparer struct{ used [][]byte }

func (c *countingComparer) Compare(hashed, plain []byte) (bool, error) {
	c.used = append(c.used, hashed)
	if bytes.Equal(hashed, []byte("$2a$10$broken")) {
		return false, errors.New("bad hash")
	}
	return bytes.Equal(hashed, append([]byte("H:"), plain...)), nil
}

func TestAccounts(t *testing.T) {
	cmp := &countingComparer{}
	a, err := NewAccounts(map[string]string{"demo": "H:pw", "root": "H:toor"}, cmp)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, user, pass string
		ok               bool
	}{
		{"right", "demo", "pw", true},
		{"wrong password", "demo", "nope", false},
		{"unknown user", "ghost", "pw", false},
		{"unknown user with a real password", "ghost", "toor", false},
		{"empty", "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmp.used = nil
			ok, err := a.Check(tc.user, tc.pass)
			if err != nil || ok != tc.ok {
				t.Fatalf("Check = %v, %v; want %v", ok, err, tc.ok)
			}
			if len(cmp.used) != 1 {
				t.Fatalf("%d compares, want exactly 1 (constant work)", len(cmp.used))
			}
		})
	}
	if _, err := NewAccounts(nil, cmp); err == nil {
		t.Fatal("no accounts accepted")
	}
	b, _ := NewAccounts(map[string]string{"x": "$2a$10$broken"}, cmp)
	if _, err := b.Check("x", "y"); err == nil {
		t.Fatal("comparer error not reported")
	}
}

func TestDecoyIsCostliestHash(t *testing.T) {
	a, _ := NewAccounts(map[string]string{"a": "$2a$10$aaaa", "b": "$2a$12$bbbb", "c": "$2a$11$cccc"}, &countingComparer{})
	if string(a.decoy) != "$2a$12$bbbb" {
		t.Fatalf("decoy = %q", a.decoy)
	}
}
