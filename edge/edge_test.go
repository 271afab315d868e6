package edge

import (
	"net/http"
	"testing"
)

func TestCheckMethod(t *testing.T) {
	for _, tc := range []struct {
		method string
		o      Options
		want   *Refusal
	}{
		{"GET", Options{}, nil},
		{"POST", Options{}, nil},
		{"PROPFIND", Options{}, nil},
		{"M-SEARCH", Options{}, nil},
		{"post", Options{}, RefuseMethodToken},
		{"Post", Options{}, RefuseMethodToken},
		{"GeT", Options{}, RefuseMethodToken},
		{"GET ", Options{}, RefuseMethodToken},
		{"GE T", Options{}, RefuseMethodToken},
		{"GET\x00", Options{}, RefuseMethodToken},
		{"G(ET", Options{}, RefuseMethodToken},
		{"GÉT", Options{}, RefuseMethodToken},
		{"", Options{}, RefuseMethodToken},
		{"TRACE", Options{}, RefuseTrace},
		{"TRACE", Options{AllowTrace: true}, nil},
		{"trace", Options{AllowTrace: true}, RefuseMethodToken},
		{"CONNECT", Options{}, RefuseConnect},
		{"CONNECT", Options{AllowConnect: true}, nil},
	} {
		t.Run(tc.method, func(t *testing.T) {
			if got := CheckMethod(tc.method, tc.o); got != tc.want {
				t.Fatalf("CheckMethod(%q) = %v, want %v", tc.method, got, tc.want)
			}
		})
	}
}

func TestCheckTarget(t *testing.T) {
	semi := Options{AllowSemicolon: true}
	slash := Options{AllowEncodedSlash: true}
	for _, tc := range []struct {
		method, target string
		o              Options
		want           *Refusal
	}{
		{"GET", "/", Options{}, nil},
		{"GET", "/open/x", Options{}, nil},
		{"GET", "/users?limit=5&sort=asc", Options{}, nil},
		{"GET", "/users?q=a;b", Options{}, nil},
		{"GET", "/a%20b/c%41", Options{}, nil},
		{"GET", "/caf%C3%A9", Options{}, nil},
		{"GET", "/café", Options{}, nil},
		{"GET", "/a.b/.well-known/x", Options{}, nil},
		{"GET", "/...", Options{}, RefuseTrailingDot},
		{"GET", "/v1.2/report.json", Options{}, nil},
		{"GET", "/jwt/admin.", Options{}, RefuseTrailingDot},
		{"GET", "/jwt/admin./x", Options{}, RefuseTrailingDot},
		{"GET", "/jwt/admin%2e", Options{}, RefuseTrailingDot},
		{"GET", "/jwt/admin%20", Options{}, RefuseTrailingDot},
		{"GET", "/jwt/admin%20%20/x", Options{}, RefuseTrailingDot},
		{"GET", "/jwt/admin%252e", Options{}, RefuseTrailingDot},
		{"GET", "/jwt/admin%2520", Options{}, RefuseTrailingDot},
		{"GET", "/jwt/admin.%2fx", slash, RefuseTrailingDot},
		{"GET", "/jwt/%2561dmin", Options{}, RefuseDoubleEncoded},
		{"GET", "/jwt/adm%2569n/x", Options{}, RefuseDoubleEncoded},
		{"GET", "/jwt/%25%36%31dmin", Options{}, RefuseDoubleEncoded},
		{"GET", "/a%2541", Options{}, RefuseDoubleEncoded},
		{"GET", "/a/", Options{}, nil},
		{"OPTIONS", "*", Options{}, nil},
		{"GET", "*", Options{}, RefuseTargetForm},
		{"GET", "http://evil.example/open/x", Options{}, RefuseTargetForm},
		{"GET", "evil.example:443", Options{}, RefuseTargetForm},
		{"GET", "", Options{}, RefuseTargetForm},
		{"GET", "/jwt/admin;x", Options{}, RefuseSemicolon},
		{"GET", "/jwt/admin;x", semi, nil},
		{"GET", "/open/..;/key/x", Options{}, RefuseSemicolon},
		{"GET", "/open/..;/key/x", semi, RefuseDotSegment},
		{"GET", "/open/.;x/key", semi, RefuseDotSegment},
		{"GET", "/jwt/admin%3bx", Options{}, RefuseSemicolon},
		{"GET", "/jwt/admin%3Bx", semi, nil},
		{"GET", "/jwt/admin%00", Options{}, RefuseControl},
		{"GET", "/jwt/admin%0a", Options{}, RefuseControl},
		{"GET", "/jwt/admin%0D", Options{}, RefuseControl},
		{"GET", "/jwt/admin%7f", Options{}, RefuseControl},
		{"GET", "/jwt/admin%2500", Options{}, RefuseControl},
		{"GET", "/jwt/admin\x00", Options{}, RefuseControl},
		{"GET", "/jwt/admin\t", Options{}, RefuseControl},
		{"GET", "/jwt/admin\x7f", Options{}, RefuseControl},
		{"GET", "/x?a=\x01", Options{}, RefuseControl},
		{"GET", "/open/..%5ckey/x", Options{}, RefuseBackslash},
		{"GET", "/open/..%5Ckey/x", Options{}, RefuseBackslash},
		{"GET", "/open/..\\key/x", Options{}, RefuseBackslash},
		{"GET", "/open/%255ckey", Options{}, RefuseBackslash},
		{"GET", "/open/a%2fb", Options{}, RefuseEncodedSlash},
		{"GET", "/open/a%2Fb", Options{}, RefuseEncodedSlash},
		{"GET", "/open/a%252fb", Options{}, RefuseEncodedSlash},
		{"GET", "/open/a%2fb", slash, nil},
		{"GET", "/open/..%2fkey", slash, RefuseDotSegment},
		{"GET", "/open/%2e%2e%2fkey", slash, RefuseDotSegment},
		{"GET", "/open/../key/x", Options{}, RefuseDotSegment},
		{"GET", "/open/./x", Options{}, RefuseDotSegment},
		{"GET", "/open/..", Options{}, RefuseDotSegment},
		{"GET", "/open/.", Options{}, RefuseDotSegment},
		{"GET", "/open/%2e%2e/key/x", Options{}, RefuseDotSegment},
		{"GET", "/open/%2E%2E/key/x", Options{}, RefuseDotSegment},
		{"GET", "/open/.%2e/key/x", Options{}, RefuseDotSegment},
		{"GET", "/open/%2e./key/x", Options{}, RefuseDotSegment},
		{"GET", "/open/%2e/x", Options{}, RefuseDotSegment},
		{"GET", "/open/%252e%252e/key/x", Options{}, RefuseDotSegment},
		{"GET", "/open/%25252e%25252e/key/x", Options{}, RefuseDotSegment},
		{"GET", "/open/%2525252e/key", Options{}, RefuseDeepEncoding},
		{"GET", "/open/%c0%ae%c0%ae/key", Options{}, RefuseBadUTF8},
		{"GET", "/open/%e0%80%ae/key", Options{}, RefuseBadUTF8},
		{"GET", "/open/%c0%af", Options{}, RefuseBadUTF8},
		{"GET", "/open/%ff", Options{}, RefuseBadUTF8},
		{"GET", "/open/%ed%a0%80", Options{}, RefuseBadUTF8},
		{"GET", "/open/\xff", Options{}, RefuseBadUTF8},
		{"GET", "/open/%zz", Options{}, RefuseBadEscape},
		{"GET", "/open/%2", Options{}, RefuseBadEscape},
		{"GET", "/open/%", Options{}, RefuseBadEscape},
		{"GET", "/open/x#frag", Options{}, RefuseFragment},
		{"GET", "/jwt/admin%3f/x", Options{}, RefuseDelimiter},
		{"GET", "/jwt/admin%3F", Options{}, RefuseDelimiter},
		{"GET", "/jwt/admin%253f", Options{}, RefuseDelimiter},
		{"GET", "/jwt/admin%23x", Options{}, RefuseDelimiter},
		{"GET", "/jwt/admin x", Options{}, RefuseSpace},
		{"GET", "/jwt/admin%20x", Options{}, nil},
		{"GET", "/open/x?y#frag", Options{}, RefuseFragment},
	} {
		t.Run(tc.method+" "+tc.target, func(t *testing.T) {
			if got := CheckTarget(tc.method, tc.target, tc.o); got != tc.want {
				t.Fatalf("CheckTarget(%q) = %v, want %v", tc.target, got, tc.want)
			}
		})
	}
}

func TestClean(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      http.Header
		o       Options
		want    http.Header
		upgrade string
	}{
		{"clean request untouched",
			http.Header{"Accept": {"*/*"}, "User-Agent": {"x"}, "X-Api-Key": {"k"}},
			Options{},
			http.Header{"Accept": {"*/*"}, "User-Agent": {"x"}, "X-Api-Key": {"k"}}, ""},
		{"client identity dropped, any case",
			http.Header{"X-Auth-User": {"admin"}, "x-auth-scope": {"admin"}, "X-AUTH-METHOD": {"jwt"}, "X-Authz": {"keep"}},
			Options{},
			http.Header{"X-Authz": {"keep"}}, ""},
		{"other auth proxies' identity headers dropped, any case",
			http.Header{
				"Remote-User": {"admin"}, "X-Remote-User": {"admin"}, "X-Authenticated-User": {"admin"}, "X-Forwarded-User": {"admin"},
				"X-Forwarded-Email": {"a@x"}, "X-Forwarded-Preferred-Username": {"admin"}, "X-Forwarded-Groups": {"admins"},
				"X-Forwarded-Access-Token": {"t"}, "X-Amzn-Oidc-Data": {"jwt"}, "X-Amzn-Oidc-Identity": {"admin"},
				"X-Ms-Client-Principal": {"p"}, "X-Ms-Client-Principal-Name": {"admin"}, "X-User": {"admin"},
				"X-Auth-Request-User": {"admin"}, "X-Userinfo": {"e30"}, "X-Consumer-Id": {"1"}, "X-Consumer-Username": {"admin"},
				"X-Credential-Identifier": {"k"}, "X-Authenticated-Scope": {"admin"}, "X-Authenticated-Userid": {"1"},
				"X-Jwt-Payload": {"e30"}, "X-Jwt-Claim-Sub": {"admin"}, "X-Goog-Authenticated-User-Email": {"a@x"},
				"X-Goog-Iap-Jwt-Assertion": {"jwt"}, "Cf-Access-Authenticated-User-Email": {"a@x"}, "Cf-Access-Jwt-Assertion": {"jwt"},
				"X-Pomerium-Jwt-Assertion": {"jwt"}, "X-Pomerium-Claim-Email": {"a@x"}, "X-Forwarded-Client-Cert": {"By=x"},
				"remote-user": {"admin"}, "x-forwarded-user": {"admin"}, "X-AMZN-OIDC-DATA": {"jwt"}, "x-jwt-payload": {"e30"},
				"X-Authorization": {"keep"}, "X-Users-Count": {"keep"}, "X-User-Agent": {"keep"},
			},
			Options{},
			http.Header{"X-Authorization": {"keep"}, "X-Users-Count": {"keep"}, "X-User-Agent": {"keep"}}, ""},
		{"routing and override headers dropped",
			http.Header{"X-Original-Url": {"/key"}, "X-Rewrite-Url": {"/key"}, "X-Override-Url": {"/k"}, "X-Http-Method-Override": {"DELETE"}, "X-Http-Method": {"PUT"}, "X-Method-Override": {"PUT"}},
			Options{},
			http.Header{}, ""},
		{"method override allowed",
			http.Header{"X-Http-Method-Override": {"DELETE"}, "X-Original-Url": {"/key"}},
			Options{AllowMethodOverride: true},
			http.Header{"X-Http-Method-Override": {"DELETE"}}, ""},
		{"client address headers reported",
			http.Header{"Forwarded": {"for=1.2.3.4"}, "X-Real-Ip": {"1"}, "True-Client-Ip": {"1"}, "X-Client-Ip": {"1"}, "Cf-Connecting-Ip": {"1"}, "X-Cluster-Client-Ip": {"1"}, "Fastly-Client-Ip": {"1"}, "X-Forwarded-Host": {"evil"}, "X-Forwarded-Proto": {"https"}, "X-Forwarded-Port": {"1"}, "X-Forwarded-Prefix": {"/admin"}, "X-Host": {"evil"}, "X-Forwarded-For": {"1.2.3.4"}},
			Options{},
			http.Header{"Forwarded": {"for=1.2.3.4"}, "X-Real-Ip": {"1"}, "True-Client-Ip": {"1"}, "X-Client-Ip": {"1"}, "Cf-Connecting-Ip": {"1"}, "X-Cluster-Client-Ip": {"1"}, "Fastly-Client-Ip": {"1"}, "X-Forwarded-Host": {"evil"}, "X-Forwarded-Proto": {"https"}, "X-Forwarded-Port": {"1"}, "X-Forwarded-Prefix": {"/admin"}, "X-Host": {"evil"}, "X-Forwarded-For": {"1.2.3.4"}}, ""},
		{"identity dropped, client address kept for DropClientAddr",
			http.Header{"X-Forwarded": {"for=1"}, "Forwarded-For": {"1"}, "X-Forwarded-By": {"1"}, "X-Forwarded-Anything": {"1"}, "X-Forwarded-User": {"a"}},
			Options{},
			http.Header{"X-Forwarded": {"for=1"}, "Forwarded-For": {"1"}, "X-Forwarded-By": {"1"}, "X-Forwarded-Anything": {"1"}}, ""},
		{"client address headers kept by Clean",
			http.Header{"Forwarded": {"for=1.2.3.4"}, "X-Real-Ip": {"1"}, "X-Auth-User": {"a"}},
			Options{},
			http.Header{"Forwarded": {"for=1.2.3.4"}, "X-Real-Ip": {"1"}}, ""},
		{"connection names gateway headers: tokens dropped, client copies dropped",
			http.Header{"Connection": {"X-Auth-User, close", "X-Request-Id"}, "X-Request-Id": {"client"}, "Keep": {"1"}},
			Options{},
			http.Header{"Keep": {"1"}}, ""},
		{"connection names a client header: removed as hop-by-hop",
			http.Header{"Connection": {"keep-alive, Foo"}, "Foo": {"bar"}},
			Options{},
			http.Header{}, ""},
		{"standard connection tokens stay",
			http.Header{"Connection": {"keep-alive"}, "Foo": {"bar"}},
			Options{},
			http.Header{"Connection": {"keep-alive"}, "Foo": {"bar"}}, ""},
		{"upgrade set aside",
			http.Header{"Connection": {"Upgrade"}, "Upgrade": {"h2c"}, "Http2-Settings": {"AAA"}},
			Options{},
			http.Header{}, "h2c"},
		{"upgrade without connection token dropped",
			http.Header{"Upgrade": {"websocket"}},
			Options{},
			http.Header{}, ""},
		{"upgrade token any case",
			http.Header{"Connection": {"keep-alive, UPGRADE"}, "Upgrade": {"websocket"}},
			Options{},
			http.Header{}, "websocket"},
		{"trailer declaration dropped",
			http.Header{"Trailer": {"X-Auth-User"}, "Te": {"trailers"}},
			Options{},
			http.Header{"Te": {"trailers"}}, ""},
		{"trailer declaration allowed",
			http.Header{"Trailer": {"Digest"}},
			Options{AllowTrailers: true},
			http.Header{"Trailer": {"Digest"}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := Clean(tc.in, tc.o)
			if len(tc.in) != len(tc.want) {
				t.Fatalf("got %v, want %v", tc.in, tc.want)
			}
			for k, v := range tc.want {
				if got := tc.in[k]; len(got) != len(v) || got[0] != v[0] {
					t.Fatalf("%s: got %v, want %v (all: %v)", k, got, v, tc.in)
				}
			}
			if res.Upgrade != tc.upgrade {
				t.Fatalf("upgrade %q, want %q", res.Upgrade, tc.upgrade)
			}
		})
	}
}

func TestIsGatewayOwned(t *testing.T) {
	for _, k := range []string{"X-Auth-User", "x-auth-method", "X-Request-Id", "X-Forwarded-For", "Forwarded", "X-Real-Ip", "Connection", "Upgrade",
		"Remote-User", "X-Forwarded-User", "X-Jwt-Payload", "Cf-Access-Jwt-Assertion", "X-Forwarded-By", "Forwarded-For"} {
		if !IsGatewayOwned(k) {
			t.Errorf("%s not gateway-owned", k)
		}
	}
	for _, k := range []string{"Digest", "Content-Digest", "X-Checksum"} {
		if IsGatewayOwned(k) {
			t.Errorf("%s gateway-owned", k)
		}
	}
}

func TestDropClientAddr(t *testing.T) {
	h := http.Header{"Forwarded": {"for=1.2.3.4"}, "X-Real-Ip": {"1"}, "x-real-ip": {"1"}, "cf-connecting-ip": {"1"}, "X-Forwarded-Prefix": {"/a"}, "X-Forwarded-For": {"1.2.3.4"}, "Accept": {"*/*"},
		"X-Forwarded": {"for=1"}, "Forwarded-For": {"1"}, "forwarded-for": {"1"}, "X-Forwarded-By": {"1"}, "X-Forwarded-Server": {"1"}, "x-forwarded-whatever": {"1"}}
	if !Clean(h, Options{}).ClientAddr {
		t.Fatal("ClientAddr not reported")
	}
	DropClientAddr(h)
	if len(h) != 2 || h["X-Forwarded-For"] == nil || h["Accept"] == nil {
		t.Fatalf("left %v", h)
	}
}

func TestClassifyNonCanonical(t *testing.T) {
	for k, want := range map[string]int{
		"x-auth-user": kindOwned, "X-AUTH-SCOPE": kindOwned, "x-original-url": kindRouting, "x-http-method-override": kindOverride,
		"forwarded": kindClientAddr, "true-client-ip": kindClientAddr, "connection": kindConnection, "UPGRADE": kindUpgrade,
		"http2-settings": kindHTTP2Setting, "trailer": kindTrailer, "x-api-key": kindOther, "X-Api-Key": kindOther,
		"remote-user": kindIdentity, "x-forwarded-user": kindIdentity, "X-FORWARDED-EMAIL": kindIdentity, "x-consumer-id": kindIdentity,
		"cf-access-jwt-assertion": kindIdentity, "x-goog-authenticated-user-id": kindIdentity, "x-forwarded": kindClientAddr,
		"forwarded-for": kindClientAddr, "x-forwarded-by": kindClientAddr, "x-forwarded-for": kindOther, "X-FORWARDED-FOR": kindOther,
		"x-remote-addr": kindClientAddr, "x-remote-user": kindIdentity, "x-request-id": kindOther, "x-forwarded-host ": kindClientAddr,
	} {
		if got := classify(k); got != want {
			t.Errorf("classify(%q) = %d, want %d", k, got, want)
		}
	}
}

func TestCheckRepeated(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    http.Header
		want *Refusal
	}{
		{"none", http.Header{}, nil},
		{"one of each", http.Header{"Content-Type": {"application/json"}, "Content-Encoding": {"gzip"}}, nil},
		{"one list value", http.Header{"Content-Encoding": {"identity, gzip"}}, nil},
		{"two content types", http.Header{"Content-Type": {"application/json", "application/x-www-form-urlencoded"}}, RefuseRepeatedHeader},
		{"two identical content types", http.Header{"Content-Type": {"application/json", "application/json"}}, RefuseRepeatedHeader},
		{"two encodings", http.Header{"Content-Encoding": {"identity", "gzip"}}, RefuseRepeatedHeader},
		{"two origins", http.Header{"Origin": {"http://localhost:3000", "https://evil.example"}}, RefuseRepeatedHeader},
		{"two referers", http.Header{"Referer": {"http://localhost:3000/", "https://evil.example/"}}, RefuseRepeatedHeader},
		{"two fetch sites", http.Header{"Sec-Fetch-Site": {"same-origin", "cross-site"}}, RefuseRepeatedHeader},
		{"other repeated headers pass", http.Header{"Accept": {"a", "b"}, "Cookie": {"a=1", "b=2"}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := CheckRepeated(tc.h); got != tc.want {
				t.Fatalf("CheckRepeated(%v) = %v, want %v", tc.h, got, tc.want)
			}
		})
	}
}
