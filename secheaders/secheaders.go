// Package secheaders holds the gateway's response header policy: the
// browser security headers it sends on every response (helmet 8's
// defaults, the helmet preset; the api preset that tightens them for
// JSON APIs; the rules that turn a preset plus the operator's overrides
// into one header set), and the upstream headers that never reach a
// client (server-identifying headers, foreign CORS grants). It has no
// Caddy imports; caddymodule's apigw_security_headers writes the set.
package secheaders

import (
	"fmt"
	"net/http"
	"sort"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// HelmetCSP is helmet 8's default Content-Security-Policy.
const HelmetCSP = "default-src 'self';base-uri 'self';font-src 'self' https: data:;form-action 'self';" +
	"frame-ancestors 'self';img-src 'self' data:;object-src 'none';script-src 'self';" +
	"script-src-attr 'none';style-src 'self' https: 'unsafe-inline';upgrade-insecure-requests"

// HSTSHeader is the Strict-Transport-Security header, set only on
// requests that arrived over TLS (browsers ignore it on plain HTTP).
const HSTSHeader = "Strict-Transport-Security"

// helmetHeaders are helmet 8's defaults (verified against helmet's own
// output by caddymodule's TestSecurityHeadersMatchHelmet).
var helmetHeaders = map[string]string{
	"Content-Security-Policy":           HelmetCSP,
	"Cross-Origin-Opener-Policy":        "same-origin",
	"Cross-Origin-Resource-Policy":      "same-origin",
	"Origin-Agent-Cluster":              "?1",
	"Referrer-Policy":                   "no-referrer",
	HSTSHeader:                          "max-age=31536000; includeSubDomains",
	"X-Content-Type-Options":            "nosniff",
	"X-Dns-Prefetch-Control":            "off",
	"X-Download-Options":                "noopen",
	"X-Frame-Options":                   "SAMEORIGIN",
	"X-Permitted-Cross-Domain-Policies": "none",
	"X-Xss-Protection":                  "0",
}

// apiOverrides turn the helmet preset into the api preset: a JSON API
// never needs to load or frame anything.
var apiOverrides = map[string]string{
	"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
	"X-Frame-Options":         "DENY",
}

// NoStore is the Cache-Control value the api preset sends on
// authenticated responses.
const NoStore = "no-store"

// Header is one header of a set: its canonical name and its one value.
type Header struct {
	Name  string
	Value string
}

// Set is the compiled header set of a preset with its overrides.
type Set struct {
	// Headers are sent on every response (sorted by name; HSTS apart).
	Headers []Header
	// HSTS is the Strict-Transport-Security value sent over TLS, if
	// HasHSTS.
	HSTS    string
	HasHSTS bool
	// NoStoreAuthenticated: send Cache-Control: no-store on responses to
	// authenticated requests (the api preset, unless Cache-Control is
	// set or removed).
	NoStoreAuthenticated bool
}

// CheckPreset reports an unknown preset name.
func CheckPreset(preset string) error {
	if preset != "helmet" && preset != "api" {
		return fmt.Errorf("unknown preset %q (use helmet or api)", preset)
	}
	return nil
}

// ValidName reports whether s is a valid header field name (an RFC 9110
// token).
func ValidName(s string) bool { return httpguts.ValidHeaderFieldName(s) }

// Check checks the header names and values of set and remove.
func Check(set map[string]string, remove []string) error {
	for k, v := range set {
		if !ValidName(k) {
			return fmt.Errorf("%q is not a valid header name", k)
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			return fmt.Errorf("the value of %s contains a line break or NUL", k)
		}
	}
	for _, k := range remove {
		if !ValidName(k) {
			return fmt.Errorf("%q is not a valid header name", k)
		}
	}
	return nil
}

// Compile returns the header set of preset ("helmet" when empty) with
// the headers of set added or overriding it and those of remove left
// out.
func Compile(preset string, set map[string]string, remove []string) (Set, error) {
	var out Set
	if preset == "" {
		preset = "helmet"
	}
	if err := CheckPreset(preset); err != nil {
		return out, err
	}
	all := make(map[string]string, len(helmetHeaders)+len(set))
	for k, v := range helmetHeaders {
		all[k] = v
	}
	if preset == "api" {
		for k, v := range apiOverrides {
			all[k] = v
		}
		out.NoStoreAuthenticated = true
	}
	written := make(map[string]bool, len(set))
	for k, v := range set {
		ck := http.CanonicalHeaderKey(k)
		written[ck] = true
		if ck == "Cache-Control" {
			out.NoStoreAuthenticated = false
		}
		all[ck] = v
	}
	for _, k := range remove {
		ck := http.CanonicalHeaderKey(k)
		if written[ck] {
			return out, fmt.Errorf("header %q is both set and removed: keep one", k)
		}
		if ck == "Cache-Control" {
			out.NoStoreAuthenticated = false
		}
		delete(all, ck)
	}
	out.HSTS, out.HasHSTS = all[HSTSHeader]
	delete(all, HSTSHeader)
	for k, v := range all {
		out.Headers = append(out.Headers, Header{k, v})
	}
	sort.Slice(out.Headers, func(i, j int) bool { return out.Headers[i].Name < out.Headers[j].Name })
	return out, nil
}

// IsCORS reports whether k is an Access-Control-* header, in any
// letter case.
func IsCORS(k string) bool {
	const p = "Access-Control-"
	return len(k) > len(p) && (k[0] == 'A' || k[0] == 'a') && strings.EqualFold(k[:len(p)], p)
}

// IsServerIdentifying reports whether k names the upstream's software, its
// version or the proxies it passed: never sent to a client behind
// apigw_errors. (CORS headers come only from the gateway's own CORS
// grant: every other Access-Control-* header is removed, see IsCORS.)
func IsServerIdentifying(k string) bool {
	switch k {
	case "Server", "X-Powered-By", "Via", "X-Aspnet-Version", "X-Aspnetmvc-Version":
		return true
	}
	return false
}
