package authn

import (
	"math"
	"strings"
	"testing"
)

// TestVerifyClaimTypes: a registered or scope claim of the wrong JSON
// type is invalid_token, whatever the verifier's configuration (golang-jwt
// only reads iss/sub/aud when an expected value is set, and never jti).
func TestVerifyClaimTypes(t *testing.T) {
	bare := mustVerifier(t, JWTConfig{Secret: []byte(testSecret), AllowMissingExp: true})
	strict := mustVerifier(t, JWTConfig{Secret: []byte(testSecret), Issuer: "https://idp", Audience: []string{"api"}})
	for _, tc := range []struct {
		name   string
		extra  map[string]any
		code   string // "" = accepted, "reject" = any rejection
		detail string
	}{
		{"jti number", map[string]any{"jti": 4242}, CodeInvalidToken, "token claim jti must be a string"},
		{"jti object", map[string]any{"jti": map[string]any{"id": "4242"}}, CodeInvalidToken, "token claim jti must be a string"},
		{"jti array", map[string]any{"jti": []any{"4242"}}, CodeInvalidToken, "token claim jti must be a string"},
		{"jti null", map[string]any{"jti": jsonNull{}}, CodeInvalidToken, "token claim jti must be a string"},
		{"jti string", map[string]any{"jti": "4242"}, "", ""},
		{"iss number", map[string]any{"iss": 1}, CodeInvalidToken, "token claim iss must be a string"},
		{"iss array", map[string]any{"iss": []any{"https://idp"}}, CodeInvalidToken, "token claim iss must be a string"},
		{"sub number", map[string]any{"sub": 7}, CodeInvalidToken, "token claim sub must be a string"},
		{"aud number", map[string]any{"aud": 1}, CodeInvalidToken, "token claim aud must be a string or an array of strings"},
		{"aud object", map[string]any{"aud": map[string]any{}}, CodeInvalidToken, "token claim aud must be a string or an array of strings"},
		{"aud mixed array", map[string]any{"aud": []any{"api", 1}}, CodeInvalidToken, "token claim aud must be a string or an array of strings"},
		{"aud bool", map[string]any{"aud": true}, CodeInvalidToken, "token claim aud must be a string or an array of strings"},
		{"aud array", map[string]any{"aud": []any{"api", "other"}}, "", ""},
		{"exp string", map[string]any{"exp": "9999999999"}, CodeInvalidToken, ""},
		{"exp zero", map[string]any{"exp": 0}, CodeTokenExpired, "token has expired"},
		{"exp negative", map[string]any{"exp": -1}, "reject", ""},
		{"exp huge", map[string]any{"exp": 1e300}, "reject", ""},
		{"nbf string", map[string]any{"nbf": "0"}, CodeInvalidToken, ""},
		{"nbf bool", map[string]any{"nbf": false}, CodeInvalidToken, ""},
		{"iat array", map[string]any{"iat": []any{1}}, CodeInvalidToken, ""},
		{"iat huge", map[string]any{"iat": math.MaxFloat64}, CodeInvalidToken, ""},
		{"scope number", map[string]any{"scope": 1}, CodeInvalidToken, ""},
		{"scope object", map[string]any{"scope": map[string]any{"admin": true}}, CodeInvalidToken, ""},
		{"scope nbsp", map[string]any{"scope": "read\u00a0admin"}, CodeInvalidToken, ""},
		{"scope tab", map[string]any{"scope": "read\tadmin"}, CodeInvalidToken, ""},
		{"scope newline", map[string]any{"scope": "read\nadmin"}, CodeInvalidToken, ""},
		{"scope quote", map[string]any{"scope": `read "admin"`}, CodeInvalidToken, ""},
		{"scope backslash", map[string]any{"scope": `read\admin`}, CodeInvalidToken, ""},
		{"scope non-ASCII", map[string]any{"scope": "réad"}, CodeInvalidToken, ""},
		{"scp number array", map[string]any{"scp": []any{"read", 2}}, CodeInvalidToken, ""},
		{"scp element with space", map[string]any{"scp": []any{"read admin"}}, CodeInvalidToken, ""},
		{"scp empty element", map[string]any{"scp": []any{""}}, CodeInvalidToken, ""},
		{"roles number", map[string]any{"roles": 3}, CodeInvalidToken, ""},
		{"scope ok", map[string]any{"scope": " read  admin "}, "", ""},
		{"scp ok", map[string]any{"scp": []any{"read", "admin:all"}}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, v := range []*JWTVerifier{bare, strict} {
				c := claims(tc.extra)
				if v == strict {
					if _, set := tc.extra["iss"]; !set {
						c["iss"] = "https://idp"
					}
					if _, set := tc.extra["aud"]; !set {
						c["aud"] = "api"
					}
				}
				if _, ok := tc.extra["jti"].(jsonNull); ok {
					c["jti"] = nil
				}
				tok := sign(t, "HS256", []byte(testSecret), c, nil)
				if tc.code == "" {
					if _, err := v.Verify(tok); err != nil {
						t.Fatalf("rejected: %v", err)
					}
					continue
				}
				if tc.code == "reject" || v == strict && tc.name == "exp zero" {
					// golang-jwt may answer first (expired): any
					// rejection is right
					if _, err := v.Verify(tok); err == nil {
						t.Fatal("accepted")
					}
					continue
				}
				detail := tc.detail
				if v == strict && strings.HasPrefix(tc.name, "aud") || v == strict && strings.HasPrefix(tc.name, "iss") {
					detail = "" // golang-jwt's own type check answers first
				}
				expectReject(t, v, tok, tc.code, detail)
			}
		})
	}
}

// jsonNull marks a claim that must be encoded as JSON null.
type jsonNull struct{}

// TestIdentityScopesRFC6749: scopes split on U+0020 only.
func TestIdentityScopesRFC6749(t *testing.T) {
	for _, tc := range []struct {
		name  string
		scope any
		want  string // joined by "|"; "!" = rejected
	}{
		{"single spaces", "read write", "read|write"},
		{"repeated spaces", "  read   write ", "read|write"},
		{"nbsp is not a separator", "read\u00a0admin", "!"},
		{"tab", "read\tadmin", "!"},
		{"vertical tab", "read\vadmin", "!"},
		{"CRLF", "read\r\nadmin", "!"},
		{"U+2003 em space", "read\u2003admin", "!"},
		{"array", []any{"read", "admin"}, "read|admin"},
		{"array with nbsp", []any{"read\u00a0admin"}, "!"},
		{"visible punctuation", "a:b/c!#$%&'()*+,-./;<=>?@[]^_`{|}~", "a:b/c!#$%&'()*+,-./;<=>?@[]^_`{|}~"},
		{"number", 12, "!"},
		{"bool", true, "!"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := IdentityFromClaims(map[string]any{"sub": "a", "scope": tc.scope}, "")
			if tc.want == "!" {
				if err == nil {
					t.Fatalf("accepted with scopes %q", id.Scopes)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(id.Scopes, "|"); got != tc.want {
				t.Fatalf("scopes %q, want %q", got, tc.want)
			}
			if id.HasScope("admin") && !strings.Contains(tc.want, "admin") {
				t.Fatal("admin granted")
			}
		})
	}
	if got := SplitScopes("read\u00a0admin\tx"); len(got) != 1 {
		t.Fatalf("SplitScopes split on non-U+0020 whitespace: %q", got)
	}
}
