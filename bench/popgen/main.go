// Command popgen writes pre-signed proof-of-possession requests for the
// load benchmark (bench/run.sh, bench/pop.lua): wrk cannot sign a fresh
// DPoP proof (RFC 9449) or HTTP Message Signature (RFC 9421) per request,
// and the gateway accepts each proof jti and each signature nonce once, so
// right before a target is measured popgen writes n distinct requests, each
// line one request, split over one file per wrk thread:
//
//	<path>\t<Header>: <value>\t<Header>: <value>
//
// Kinds:
//
//	dpop-es256, dpop-eddsa  "Authorization: DPoP <token>" + "DPoP: <proof>";
//	                        the proof key is generated per run, the token
//	                        (ES256, signed by -token-key, kid -token-kid)
//	                        carries its cnf.jkt; every proof has its own
//	                        jti, iat = now, htu = -url, ath of the token
//	sig-ed25519, sig-es256  Signature-Input + Signature (label sig1) over
//	                        @method @authority @path, created = now,
//	                        expires = now + 300s, its own nonce, keyid
//	                        -sig-keyid, signed with -sig-key
//
// Usage (from the repository root; bench/run.sh does this):
//
//	go run ./bench/popgen -kind dpop-es256 -url http://127.0.0.1:18002/dpop/items \
//	    -n 60000 -parts 2 -out /tmp/pop -window 5s -iss http://127.0.0.1:18000
//
// It signs with our own httpsig.Sign, golang-jwt and go-jose (already in the
// module graph), so the requests are only as independent as the benchmark
// needs: correctness against independent implementations is in the tests.
package main

import (
	"bufio"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/apigw/caddy-apigw/authn"
	"github.com/apigw/caddy-apigw/httpsig"
)

// Validity windows of the gateway's defaults: a DPoP proof's iat within
// ±60 s (dpop_max_age, dpop_leeway), a signature's created within ±300 s
// (tolerance in Caddyfile.bench). A round must end well inside them.
const (
	dpopWindow = 60 * time.Second
	sigWindow  = 300 * time.Second
	// slack is the time a line may wait between generation and use
	// besides the round itself (writing the files, starting wrk).
	slack = 10 * time.Second
)

type config struct {
	kind, target, out          string
	n, parts                   int
	window                     time.Duration
	tokenKey, tokenKid         string
	iss, aud                   string
	sigKey, sigKeyID, sigLabel string
}

func main() {
	var c config
	flag.StringVar(&c.kind, "kind", "", "dpop-es256, dpop-eddsa, sig-ed25519 or sig-es256")
	flag.StringVar(&c.target, "url", "", "the exact URL wrk requests (scheme, host:port, path)")
	flag.IntVar(&c.n, "n", 0, "number of requests (lines) in all")
	flag.IntVar(&c.parts, "parts", 1, "number of files (one per wrk thread): <out>.1 … <out>.<parts>")
	flag.StringVar(&c.out, "out", "", "file name prefix")
	flag.DurationVar(&c.window, "window", 5*time.Second, "how long the lines are used (the round); refused if the proofs would expire")
	flag.StringVar(&c.tokenKey, "token-key", "examples/demo-keys/oidc-es256.key.pem", "PKCS#8 PEM of the ES256 key that signs DPoP access tokens")
	flag.StringVar(&c.tokenKid, "token-kid", "demo-es256", "kid of the token key in the gateway's JWKS")
	flag.StringVar(&c.iss, "iss", "", "token issuer (the gateway's issuer)")
	flag.StringVar(&c.aud, "aud", "caddy-apigw-demo", "token audience")
	flag.StringVar(&c.sigKey, "sig-key", "", "PKCS#8 PEM of the RFC 9421 key (default: the test-only demo-ed25519 key for sig-ed25519, the demo ES256 key for sig-es256)")
	flag.StringVar(&c.sigKeyID, "sig-keyid", "", "RFC 9421 keyid (default demo-ed25519 or bench-es256)")
	flag.StringVar(&c.sigLabel, "sig-label", "sig1", "RFC 9421 signature label")
	flag.Parse()
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "popgen:", err)
		os.Exit(1)
	}
}

// lineFunc makes line i (a fresh proof or signature) into buf.
type lineFunc func(buf []byte, i int, now time.Time) ([]byte, error)

func run(c config) error {
	if c.n <= 0 || c.parts <= 0 || c.out == "" || c.target == "" {
		return errors.New("-n, -parts, -out and -url are required (see -h)")
	}
	u, err := url.Parse(c.target)
	if err != nil || u.Host == "" || u.Path == "" || u.RawQuery != "" {
		return fmt.Errorf("-url %q: want scheme://host:port/path without a query", c.target)
	}
	var line lineFunc
	switch c.kind {
	case "dpop-es256", "dpop-eddsa":
		if c.window+slack > dpopWindow {
			return fmt.Errorf("-window %s: DPoP proofs are accepted for %s after their iat; use shorter rounds", c.window, dpopWindow-slack)
		}
		line, err = dpopLines(c, u)
	case "sig-ed25519", "sig-es256":
		if c.window+slack > sigWindow {
			return fmt.Errorf("-window %s: signatures are accepted for %s after created; use shorter rounds", c.window, sigWindow-slack)
		}
		line, err = sigLines(c, u)
	default:
		return fmt.Errorf("-kind %q: want dpop-es256, dpop-eddsa, sig-ed25519 or sig-es256", c.kind)
	}
	if err != nil {
		return err
	}
	now := time.Now()
	errs := make([]error, c.parts)
	var wg sync.WaitGroup
	for p := range c.parts {
		wg.Go(func() { errs[p] = writePart(fmt.Sprintf("%s.%d", c.out, p+1), p, c, line, now) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// writePart writes lines p, p+parts, p+2·parts, … below n to name.
func writePart(name string, p int, c config, line lineFunc, now time.Time) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	var buf []byte
	for i := p; i < c.n; i += c.parts {
		if buf, err = line(buf[:0], i, now); err != nil {
			_ = f.Close()
			return err
		}
		buf = append(buf, '\n')
		if _, err = w.Write(buf); err != nil {
			_ = f.Close()
			return err
		}
	}
	if err = w.Flush(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// runID makes the jti and nonce of this run distinct from every other
// run's, so rounds never collide in the gateway's replay store.
func runID() string {
	var b [9]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func dpopLines(c config, u *url.URL) (lineFunc, error) {
	if c.iss == "" {
		return nil, errors.New("-iss is required for DPoP tokens")
	}
	tokenKey, err := readPKCS8(c.tokenKey)
	if err != nil {
		return nil, err
	}
	alg := "ES256"
	var proofKey crypto.Signer
	if c.kind == "dpop-eddsa" {
		alg = "EdDSA"
		_, proofKey, err = ed25519.GenerateKey(rand.Reader)
	} else {
		proofKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		return nil, err
	}
	rawJWK, err := jose.JSONWebKey{Key: proofKey.Public()}.MarshalJSON()
	if err != nil {
		return nil, err
	}
	jkt, err := authn.JWKThumbprint(rawJWK)
	if err != nil {
		return nil, err
	}
	var jwk map[string]any
	if err := json.Unmarshal(rawJWK, &jwk); err != nil {
		return nil, err
	}
	now := time.Now()
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
		"sub": "bench", "iss": c.iss, "aud": c.aud,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"cnf": map[string]any{"jkt": jkt},
	})
	tok.Header["kid"] = c.tokenKid
	token, err := tok.SignedString(tokenKey)
	if err != nil {
		return nil, fmt.Errorf("signing the access token: %w", err)
	}
	sum := sha256.Sum256([]byte(token))
	ath := base64.RawURLEncoding.EncodeToString(sum[:])
	method := jwt.GetSigningMethod(alg)
	htu := u.Scheme + "://" + u.Host + u.EscapedPath()
	prefix := u.EscapedPath() + "\tAuthorization: DPoP " + token + "\tDPoP: "
	run := runID()
	return func(buf []byte, i int, now time.Time) ([]byte, error) {
		p := jwt.NewWithClaims(method, jwt.MapClaims{
			"jti": run + "-" + strconv.Itoa(i), "htm": http.MethodGet, "htu": htu,
			"iat": now.Unix(), "ath": ath,
		})
		p.Header["typ"] = authn.DPoPType
		p.Header["jwk"] = jwk
		proof, err := p.SignedString(proofKey)
		if err != nil {
			return nil, fmt.Errorf("signing a proof: %w", err)
		}
		return append(append(buf, prefix...), proof...), nil
	}, nil
}

func sigLines(c config, u *url.URL) (lineFunc, error) {
	alg, keyFile, keyID := httpsig.AlgEd25519, "internal/testutil/js/demo-ed25519.test-private.pem", "demo-ed25519"
	if c.kind == "sig-es256" {
		alg, keyFile, keyID = httpsig.AlgECDSAP256, "examples/demo-keys/oidc-es256.key.pem", "bench-es256"
	}
	if c.sigKey != "" {
		keyFile = c.sigKey
	}
	if c.sigKeyID != "" {
		keyID = c.sigKeyID
	}
	priv, err := readPKCS8(keyFile)
	if err != nil {
		return nil, err
	}
	if _, err := httpsig.Sign(alg, priv, []byte("probe")); err != nil {
		return nil, fmt.Errorf("%s: %w", keyFile, err)
	}
	path := u.EscapedPath()
	run := runID()
	return func(buf []byte, i int, now time.Time) ([]byte, error) {
		member := `("@method" "@authority" "@path");created=` + strconv.FormatInt(now.Unix(), 10) +
			`;expires=` + strconv.FormatInt(now.Add(sigWindow).Unix(), 10) +
			`;keyid="` + keyID + `";nonce="` + run + "-" + strconv.Itoa(i) + `"`
		input := c.sigLabel + "=" + member
		req := &httpsig.Request{Method: http.MethodGet, Scheme: u.Scheme, Authority: u.Host, RequestURI: path}
		s, err := httpsig.ParseSignature(input, c.sigLabel+"=:AA==:", c.sigLabel)
		if err != nil {
			return nil, err
		}
		base, err := httpsig.Base(req, s)
		if err != nil {
			return nil, err
		}
		sig, err := httpsig.Sign(alg, priv, base)
		if err != nil {
			return nil, err
		}
		buf = append(buf, path...)
		buf = append(append(buf, "\tSignature-Input: "...), input...)
		buf = append(append(buf, "\tSignature: "...), c.sigLabel+"=:"...)
		buf = base64.StdEncoding.AppendEncode(buf, sig)
		return append(buf, ':'), nil
	}, nil
}

func readPKCS8(name string) (crypto.Signer, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%s: want a PKCS#8 PEM (PRIVATE KEY)", name)
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: not a signing key", name)
	}
	return s, nil
}
