// Package hmacsig checks HMAC-signed requests: the X-Signature header
// ("t=<unix seconds>,v1=<hex HMAC-SHA256>"), its verification against one
// or more shared secrets within a clock tolerance, and a once-only replay
// cache in a store.Store shared by every instance. It has no Caddy
// imports; its errors are failure kinds (failure.ErrInvalidSignature,
// failure.ErrReplayedRequest, failure.ErrUnavailable) with client-safe
// details.
package hmacsig

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apigw/caddy-apigw/failure"
	"github.com/apigw/caddy-apigw/store"
)

// SignatureHeader is the default name of the header carrying a request
// signature: "t=<unix seconds>,v1=<hex HMAC-SHA256>[,v1=...]".
const SignatureHeader = "X-Signature"

// MaxSignatures is how many v1 values one header may carry (a client
// rotating secrets signs with each).
const MaxSignatures = 4

// MinSecretLen is the minimum length of a signing secret in bytes.
const MinSecretLen = 32

// Signature is a parsed signature header.
type Signature struct {
	// Timestamp is the t= value (unix seconds).
	Timestamp int64
	// MACs holds the decoded v1= values; N of them are set.
	MACs [MaxSignatures][sha256.Size]byte
	// N is the number of v1 values.
	N int
}

// Reason is why a signature is refused. Every error of this package is a
// failure kind (failure.ErrInvalidSignature, failure.ErrReplayedRequest
// or failure.ErrUnavailable) whose cause is one of the reasons below, so
// errors.Is(err, ErrSignatureStale) tells them apart.
type Reason string

// Error returns the reason.
func (r Reason) Error() string { return string(r) }

// The reasons.
const (
	ErrSignatureMissing   Reason = "missing X-Signature header"
	ErrSignatureMalformed Reason = "malformed X-Signature header"
	ErrSignatureStale     Reason = "signature timestamp outside the allowed tolerance"
	ErrSignatureMismatch  Reason = "signature does not match the request"
	ErrSignatureReplayed  Reason = "signature was already used"
)

// malformed explains what is wrong with a signature header without
// repeating its content.
func malformed(reason string) error {
	return failure.Wrap(failure.ErrInvalidSignature,
		"malformed X-Signature header: "+reason+` (expected "t=<unix seconds>,v1=<64 hex digits>")`, ErrSignatureMalformed)
}

// ParseSignature parses the value h of the signature header called name:
// "t=<unix seconds>,v1=<hex>[,v1=<hex>...]", without allocating on
// success. Unknown keys (future versions such as v2=) are ignored; t must
// appear exactly once and v1 between once and MaxSignatures times.
func ParseSignature(name, h string, sig *Signature) error {
	*sig = Signature{Timestamp: -1}
	if h == "" {
		return failure.Wrap(failure.ErrInvalidSignature,
			"missing "+name+" header: sign the request (t=<unix seconds>,v1=<hex HMAC-SHA256>)", ErrSignatureMissing)
	}
	if len(h) > 1024 {
		return malformed("header too long")
	}
	for h != "" {
		var part string
		part, h, _ = strings.Cut(h, ",")
		part = strings.Trim(part, " \t")
		eq := strings.IndexByte(part, '=')
		if eq <= 0 {
			return malformed("element without key=value")
		}
		key, val := part[:eq], part[eq+1:]
		switch key {
		case "t":
			if sig.Timestamp >= 0 {
				return malformed("t given twice")
			}
			if len(val) == 0 || len(val) > 12 {
				return malformed("t is not a unix timestamp in seconds")
			}
			var t int64
			for i := 0; i < len(val); i++ {
				c := val[i]
				if c < '0' || c > '9' {
					return malformed("t is not a unix timestamp in seconds")
				}
				t = t*10 + int64(c-'0')
			}
			sig.Timestamp = t
		case "v1":
			if sig.N == MaxSignatures {
				return malformed("more than 4 v1 values")
			}
			if len(val) != 2*sha256.Size {
				return malformed("v1 is not 64 hex digits")
			}
			if !decodeHex(sig.MACs[sig.N][:], val) {
				return malformed("v1 is not 64 hex digits")
			}
			sig.N++
		}
	}
	if sig.Timestamp < 0 {
		return malformed("no t= timestamp")
	}
	if sig.N == 0 {
		return malformed("no v1= signature")
	}
	return nil
}

// decodeHex decodes len(dst)*2 hex digits of s (either case) into dst
// without allocating.
func decodeHex(dst []byte, s string) bool {
	var src [2 * sha256.Size]byte
	if len(s) != 2*len(dst) || len(s) > len(src) {
		return false
	}
	n := copy(src[:], s)
	_, err := hex.Decode(dst, src[:n])
	return err == nil
}

// macState is a reusable HMAC with scratch buffers, so a verification
// allocates nothing.
type macState struct {
	mac hash.Hash
	msg []byte
	sum [sha256.Size]byte
}

// Verifier checks request signatures against one or more secrets (several
// during a rotation).
type Verifier struct {
	tolerance time.Duration
	stale     error // the stale-timestamp failure, naming the tolerance
	pools     []*sync.Pool
}

// NewVerifier returns a Verifier for secrets (each at least MinSecretLen
// bytes) accepting timestamps within ±tolerance of the clock.
func NewVerifier(secrets [][]byte, tolerance time.Duration) (*Verifier, error) {
	if len(secrets) == 0 {
		return nil, errors.New("no signing secret: set `secret {env.SIGNING_SECRET}`")
	}
	if tolerance <= 0 {
		return nil, errors.New("signature tolerance must be positive")
	}
	v := &Verifier{tolerance: tolerance, stale: failure.Wrap(failure.ErrInvalidSignature,
		"the signature timestamp is outside the allowed ±"+strconv.Itoa(int(tolerance/time.Second))+"s window (check the client clock)", ErrSignatureStale)}
	for i, s := range secrets {
		if err := CheckSecret(s); err != nil {
			return nil, fmt.Errorf("signing secret #%d: %w", i+1, err)
		}
		key := append([]byte(nil), s...)
		v.pools = append(v.pools, &sync.Pool{New: func() any {
			return &macState{mac: hmac.New(sha256.New, key), msg: make([]byte, 0, 256)}
		}})
	}
	return v, nil
}

// CheckSecret reports a signing secret shorter than MinSecretLen: the one
// check of a secret, for NewVerifier and the Caddyfile parser alike.
func CheckSecret(secret []byte) error {
	if len(secret) < MinSecretLen {
		return fmt.Errorf("secret is %d bytes long: use at least %d random bytes (e.g. `openssl rand -hex 32`)", len(secret), MinSecretLen)
	}
	return nil
}

// Tolerance returns the accepted clock skew.
func (v *Verifier) Tolerance() time.Duration { return v.tolerance }

// Verify checks sig for a request with method, pathQuery (the request
// target, path and query as sent) and the SHA-256 of its body, at time
// now. It returns the index of the matching v1 value, or a
// failure.ErrInvalidSignature caused by ErrSignatureStale or
// ErrSignatureMismatch. Comparisons are constant time.
func (v *Verifier) Verify(sig *Signature, method, pathQuery string, bodySum *[sha256.Size]byte, now time.Time) (int, error) {
	skew := now.Unix() - sig.Timestamp
	if skew < 0 {
		skew = -skew
	}
	if time.Duration(skew)*time.Second > v.tolerance || skew > 1<<40 {
		return -1, v.stale
	}
	match := -1
	for _, pool := range v.pools {
		st := pool.Get().(*macState)
		msg := appendInt(st.msg[:0], sig.Timestamp)
		msg = append(msg, '.')
		msg = append(msg, method...)
		msg = append(msg, '.')
		msg = append(msg, pathQuery...)
		msg = append(msg, '.')
		msg = hex.AppendEncode(msg, bodySum[:])
		st.mac.Reset()
		st.mac.Write(msg)
		got := st.mac.Sum(st.sum[:0])
		for i := 0; i < sig.N; i++ {
			if hmac.Equal(got, sig.MACs[i][:]) && match < 0 {
				match = i
			}
		}
		st.msg = msg[:0]
		pool.Put(st)
	}
	if match < 0 {
		return -1, errMismatch
	}
	return match, nil
}

var errMismatch = failure.Wrap(failure.ErrInvalidSignature,
	"the signature does not match the request (method, path and query, body, or secret differ)", ErrSignatureMismatch)

// Sign returns the X-Signature value for a request, for clients and
// tests: "t=<t>,v1=<hex>".
func Sign(secret []byte, t int64, method, pathQuery string, body []byte) string {
	bs := sha256.Sum256(body)
	mac := hmac.New(sha256.New, secret)
	fmt.Fprintf(mac, "%d.%s.%s.%x", t, method, pathQuery, bs[:])
	return fmt.Sprintf("t=%d,v1=%x", t, mac.Sum(nil))
}

func appendInt(b []byte, n int64) []byte {
	if n == 0 {
		return append(b, '0')
	}
	var tmp [20]byte
	i := len(tmp)
	for n > 0 {
		i--
		tmp[i] = byte('0' + n%10)
		n /= 10
	}
	return append(b, tmp[i:]...)
}

// ReplayCache remembers accepted signatures so each is accepted once.
type ReplayCache struct {
	store store.Store
	ttl   time.Duration
}

// NewReplayCache returns a cache in s remembering a signature for ttl
// (twice the tolerance: by then its timestamp is stale anyway).
func NewReplayCache(s store.Store, ttl time.Duration) *ReplayCache {
	return &ReplayCache{store: s, ttl: ttl}
}

// Accept records mac as used. A mac already recorded is a
// failure.ErrReplayedRequest (caused by ErrSignatureReplayed); a store
// failure is a failure.ErrUnavailable.
func (c *ReplayCache) Accept(ctx context.Context, mac *[sha256.Size]byte) error {
	var kb [4 + 2*sha256.Size]byte
	key := append(kb[:0], "sig:"...)
	key = hex.AppendEncode(key, mac[:])
	fresh, err := c.store.SetNX(ctx, string(key), []byte{1}, c.ttl)
	if err != nil {
		return failure.Wrap(failure.ErrUnavailable, "the replay cache is unavailable", fmt.Errorf("signature replay cache: %w", err))
	}
	if !fresh {
		return errReplayed
	}
	return nil
}

var errReplayed = failure.Wrap(failure.ErrReplayedRequest,
	"this signature was already used: sign every request anew", ErrSignatureReplayed)
