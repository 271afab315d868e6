package edge

import (
	"strings"
	"testing"
)

func TestOptionsSet(t *testing.T) {
	var o Options
	for _, n := range optionNames {
		if err := o.Set(n); err != nil {
			t.Fatalf("Set(%q): %v", n, err)
		}
	}
	if o != (Options{true, true, true, true, true, true}) {
		t.Fatalf("not every option set: %+v", o)
	}
	err := o.Set("allow_everything")
	if err == nil || !strings.Contains(err.Error(), `unknown option "allow_everything" (known: allow_semicolon, allow_encoded_slash, allow_method_override, allow_trailers, allow_trace, allow_connect)`) {
		t.Fatalf("unknown option: %v", err)
	}
}

func TestUpgrade(t *testing.T) {
	for _, tc := range []struct {
		protocols []string
		ok        bool
	}{
		{[]string{"websocket"}, true}, {nil, false}, {[]string{"H2C"}, false}, {[]string{"a b"}, false}, {[]string{""}, false},
	} {
		if err := CheckUpgradeProtocols(tc.protocols); (err == nil) != tc.ok {
			t.Errorf("CheckUpgradeProtocols(%q) = %v", tc.protocols, err)
		}
	}
	ws := []string{"websocket"}
	for v, want := range map[string]bool{"websocket": true, "WebSocket/13": true, " websocket , h2c": true, "h2c, websocket": false, "": false} {
		if got := UpgradeAllowed(v, ws); got != want {
			t.Errorf("UpgradeAllowed(%q) = %v", v, got)
		}
	}
}
