package edge

import (
	"errors"
	"fmt"
	"strings"
)

// optionNames are the options' names, in their documented order.
var optionNames = []string{"allow_semicolon", "allow_encoded_slash", "allow_method_override", "allow_trailers", "allow_trace", "allow_connect"}

// Set turns on the option of that name (its JSON name, which is also the
// Caddyfile option's), or reports an unknown name with the known ones.
func (o *Options) Set(name string) error {
	fields := [...]*bool{&o.AllowSemicolon, &o.AllowEncodedSlash, &o.AllowMethodOverride, &o.AllowTrailers, &o.AllowTrace, &o.AllowConnect}
	for i, n := range optionNames {
		if n == name {
			*fields[i] = true
			return nil
		}
	}
	return fmt.Errorf("unknown option %q (known: %s)", name, strings.Join(optionNames, ", "))
}

// CheckUpgradeProtocols checks the protocols a route lets a client
// upgrade to (apigw_upgrade): at least one, each one token, and never
// h2c.
func CheckUpgradeProtocols(protocols []string) error {
	if len(protocols) == 0 {
		return errors.New("name at least one protocol, e.g. `apigw_upgrade websocket`")
	}
	for _, p := range protocols {
		if strings.EqualFold(p, "h2c") {
			return errors.New("h2c cannot be allowed: its streams would bypass every check; enable HTTP/2 (TLS) or the server's h2c protocol option instead")
		}
		if p == "" || strings.ContainsAny(p, " ,") {
			return errors.New("a protocol is one token such as websocket")
		}
	}
	return nil
}

// UpgradeAllowed reports whether the Upgrade header value that Clean set
// aside names, first, one of protocols (case-insensitively, any
// "/version" ignored).
func UpgradeAllowed(upgrade string, protocols []string) bool {
	if upgrade == "" {
		return false
	}
	first, _, _ := strings.Cut(upgrade, ",")
	first, _, _ = strings.Cut(strings.TrimSpace(first), "/")
	for _, p := range protocols {
		if strings.EqualFold(first, p) {
			return true
		}
	}
	return false
}
