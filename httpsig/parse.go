// Package httpsig verifies HTTP Message Signatures (RFC 9421) on requests:
// it parses the Signature-Input and Signature fields with a structured
// fields library (github.com/dunglas/httpsfv), rebuilds the signature base
// exactly as RFC 9421 §2.5 defines it, checks the signature with the key
// the signer named (ed25519, ecdsa-p256-sha256, rsa-pss-sha512 or
// hmac-sha256, the algorithm pinned by the key), the Content-Digest of
// the body (RFC 9530), the created/expires window and single use of the
// signature or its nonce. It has no Caddy imports.
package httpsig

import (
	"fmt"

	"github.com/dunglas/httpsfv"
)

// Limits on what a client may send; beyond them a request is refused
// before any parsing work grows with the input.
const (
	// DefaultMaxHeaderSize caps each of Signature-Input and Signature.
	DefaultMaxHeaderSize = 8 << 10
	// MaxComponents caps the covered components of one signature.
	MaxComponents = 64
)

// Signature is one parsed signature: a Signature-Input member and the
// matching Signature member under the same label.
type Signature struct {
	// Label is the dictionary key both fields use (e.g. "sig1").
	Label string
	// Components are the covered component identifiers, in order.
	Components []httpsfv.Item
	// Params are the signature parameters as sent (created, expires,
	// nonce, alg, keyid, tag and any others), in order.
	Params *httpsfv.Params
	// Value is the signature bytes.
	Value []byte

	// Created, Expires (0 when absent), Nonce, Alg, KeyID and Tag are the
	// typed values of the parameters of the same names.
	Created, Expires       int64
	HasCreated, HasExpires bool
	Nonce, Alg, KeyID, Tag string
	HasNonce               bool
}

// ParseSignature parses the Signature-Input and Signature field values
// (one field line each) and returns the signature under label, or, when
// label is empty, the only signature the request carries. Every error is
// a failure.ErrInvalidSignature whose detail never repeats client input.
func ParseSignature(input, sig, label string) (*Signature, error) {
	inDict, err := httpsfv.UnmarshalDictionary([]string{input})
	if err != nil {
		return nil, invalid("Signature-Input is not a valid structured field dictionary (RFC 8941)")
	}
	sigDict, err := httpsfv.UnmarshalDictionary([]string{sig})
	if err != nil {
		return nil, invalid("Signature is not a valid structured field dictionary (RFC 8941)")
	}
	if label == "" {
		names := inDict.Names()
		switch len(names) {
		case 0:
			return nil, invalid("Signature-Input has no signature")
		case 1:
			label = names[0]
		default:
			return nil, invalid("the request carries several signatures; the gateway verifies one label (configure label)")
		}
	}
	in, ok := inDict.Get(label)
	if !ok {
		return nil, invalid(fmt.Sprintf("Signature-Input has no signature labelled %q", label))
	}
	sv, ok := sigDict.Get(label)
	if !ok {
		return nil, invalid(fmt.Sprintf("Signature has no value labelled %q (it must use the label of Signature-Input)", label))
	}
	s := &Signature{Label: label}
	item, ok := sv.(httpsfv.Item)
	if !ok {
		return nil, invalid("Signature: the value must be a byte sequence (:base64:), not an inner list")
	}
	if s.Value, ok = item.Value.([]byte); !ok {
		return nil, invalid("Signature: the value must be a byte sequence (:base64:)")
	}
	if len(s.Value) == 0 {
		return nil, invalid("Signature: the value is empty")
	}
	il, ok := in.(httpsfv.InnerList)
	if !ok {
		return nil, invalid("Signature-Input: the value must be an inner list of component identifiers, e.g. (\"@method\" \"@path\");created=…")
	}
	if len(il.Items) > MaxComponents {
		return nil, invalid(fmt.Sprintf("Signature-Input covers more than %d components", MaxComponents))
	}
	for i, c := range il.Items {
		name, ok := c.Value.(string)
		if !ok {
			return nil, invalid(fmt.Sprintf("Signature-Input: component #%d is not a string", i+1))
		}
		if name == "" {
			return nil, invalid(fmt.Sprintf("Signature-Input: component #%d is empty", i+1))
		}
		for j := 0; j < len(name); j++ {
			if b := name[j]; b >= 'A' && b <= 'Z' {
				return nil, invalid(fmt.Sprintf("Signature-Input: component #%d is not lowercase (RFC 9421 §2.1)", i+1))
			}
		}
	}
	s.Components = il.Items
	s.Params = il.Params
	if err := s.typedParams(); err != nil {
		return nil, err
	}
	return s, nil
}

// typedParams checks the types of the registered signature parameters
// (RFC 9421 §2.3) and copies them into s.
func (s *Signature) typedParams() error {
	if s.Params == nil {
		s.Params = httpsfv.NewParams()
		return nil
	}
	for _, name := range s.Params.Names() {
		v, _ := s.Params.Get(name)
		switch name {
		case "created", "expires":
			n, ok := v.(int64)
			if !ok || n < 0 {
				return invalid(fmt.Sprintf("Signature-Input: %s must be a non-negative integer (Unix seconds)", name))
			}
			if name == "created" {
				s.Created, s.HasCreated = n, true
			} else {
				s.Expires, s.HasExpires = n, true
			}
		case "nonce", "alg", "keyid", "tag":
			str, ok := v.(string)
			if !ok {
				return invalid(fmt.Sprintf("Signature-Input: %s must be a string", name))
			}
			switch name {
			case "nonce":
				s.Nonce, s.HasNonce = str, true
			case "alg":
				s.Alg = str
			case "keyid":
				s.KeyID = str
			case "tag":
				s.Tag = str
			}
		}
	}
	return nil
}
