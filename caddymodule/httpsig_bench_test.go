package caddymodule

import (
	"net/http/httptest"
	"testing"

	"github.com/apigw/caddy-apigw/httpsig"
)

// BenchmarkHTTPSignatureAuthenticate measures the whole provider on the
// success path for the demo shape (ed25519, label sig1, @method
// @authority @path @query): parsing, key lookup, window and component
// checks, signature base, signature, header stripping and publishing the
// identity. allow_repeat_without_nonce lets one signed request be
// presented on every iteration, so the replay store is not touched (with
// a nonce it is one SetNX more).
func BenchmarkHTTPSignatureAuthenticate(b *testing.B) {
	a := provisionHTTPSig(b, &HTTPSignatureAuth{Settings: httpsig.Settings{Label: "sig1", AllowRepeatWithoutNonce: true,
		Keys: []HTTPSignatureKey{{ID: "demo-ed25519", PublicKey: demoEd25519SPKI, Scopes: []string{"read"}}}}}, newTestStore(b))
	r := authRequest("/sig/orders?page=2", "127.0.0.1", nil)
	signRequest(b, r, "demo-ed25519", `"@method" "@authority" "@path" "@query"`, `;alg="ed25519"`)
	in, sig := r.Header["Signature-Input"], r.Header["Signature"]
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		r.Header["Signature-Input"], r.Header["Signature"] = in, sig
		if _, ok, _ := a.Authenticate(w, r); !ok {
			b.Fatal("rejected")
		}
	}
}
