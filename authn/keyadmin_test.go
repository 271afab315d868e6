package authn

import (
	"encoding/json"
	"testing"
	"time"
)

func TestKeyListingJSON(t *testing.T) {
	created := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		rec  KeyRecord
		want string
	}{
		{KeyRecord{ID: "k", User: "u", Source: SourceRuntime},
			`{"id":"k","user":"u","scopes":[],"roles":[],"metadata":{},"allow_cidr":[],"created":null,"expires":null,"source":"runtime","revoked":false}`},
		{KeyRecord{ID: "k", User: "u", Scopes: []string{"a"}, Metadata: map[string]string{"m": "v"}, Created: created, Source: SourceConfig, Revoked: true},
			`{"id":"k","user":"u","scopes":["a"],"roles":[],"metadata":{"m":"v"},"allow_cidr":[],"created":"2030-01-02T03:04:05Z","expires":null,"source":"config","revoked":true}`},
	} {
		b, err := json.Marshal(KeyListing(tc.rec))
		if err != nil || string(b) != tc.want {
			t.Fatalf("got %s (%v), want %s", b, err, tc.want)
		}
	}
	b, _ := json.Marshal([]RevocationListing{{JTI: "a"}, {JTI: "b", Expires: created}})
	if want := `[{"jti":"a","exp":null},{"jti":"b","exp":"2030-01-02T03:04:05Z"}]`; string(b) != want {
		t.Fatalf("got %s, want %s", b, want)
	}
}

func TestKeyPatchApply(t *testing.T) {
	exp := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	v := "2"
	empty := []string{}
	scopes := []string{"x"}
	k := KeyRecord{Scopes: []string{"a"}, Roles: []string{"r"}, Metadata: map[string]string{"keep": "1", "drop": "1"}, Expires: exp}
	p := KeyPatch{Scopes: &scopes, Roles: &empty, Metadata: map[string]*string{"drop": nil, "new": &v}}
	p.Apply(&k)
	if len(k.Scopes) != 1 || k.Scopes[0] != "x" || k.Roles != nil || len(k.Metadata) != 2 || k.Metadata["new"] != "2" || !k.Expires.Equal(exp) {
		t.Fatalf("got %+v", k)
	}
	p = KeyPatch{ClearMetadata: true, ClearExpires: true}
	p.Apply(&k)
	if k.Metadata != nil || !k.Expires.IsZero() {
		t.Fatalf("got %+v", k)
	}
}
