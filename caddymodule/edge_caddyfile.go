package caddymodule

import (
	"encoding/json"

	"reflect"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// How every Caddyfile site that uses caddy-apigw gets apigw_edge at its
// top without writing it (the safe default of the product):
//
// Caddy's Caddyfile adapter calls a directive's parse func for each
// top-level segment of a site block, in the written order, and piles the
// ConfigValues it returns into the site's pile; "route" values are then
// sorted by the directive order into the site's subroute. A directive
// nested in a block (handle, route, …) has its values put into that
// block's subroute instead, and nothing a nested directive returns or
// stores in h.State reaches the site's route list (h.State is one map for
// the whole adaptation; only invoke's named routes are carried up, into
// srv.NamedRoutes, not into the chain). So the edge route must come from
// a directive written at the top level of the site:
//
//   - every caddy-apigw directive is registered through
//     registerGatewayDirective / registerGatewayHandlerDirective, which
//     wrap its parse func;
//   - the wrapper reads the site block's top-level segments (Helper does
//     not export its server block; we read the field with reflect, read
//     only, and TestEdgeSiteSegments breaks if a Caddy upgrade moves it);
//   - if the site writes apigw_edge itself (with options), nothing is
//     added;
//   - otherwise exactly one top-level caddy-apigw directive of the site
//     emits, before its own route, an apigw_edge route with no matcher:
//     the first of apigw_request_id, apigw_security_headers, apigw_cors,
//     apigw_errors present (ordered before `map`, so only `tracing` can
//     precede it), else the first one written. h.State remembers the
//     site (by its segments' identity) so a snippet imported twice does
//     not emit twice;
//   - a site that uses caddy-apigw directives only inside blocks has no
//     top-level carrier: adaptation fails, naming the directive and the
//     fix (add `apigw_edge` at the top level of the site).
//
// Named routes (&(name) blocks) are skipped: the sites invoking them
// carry their own edge.

// gatewayDirectives are the caddy-apigw directives (the carriers).
var gatewayDirectives = map[string]bool{}

// siteWideDirectives are preferred carriers: they sort before `map`.
var siteWideDirectives = []string{"apigw_request_id", "apigw_security_headers", "apigw_cors", "apigw_errors"}

const edgeStateKey = "apigw.edge.sites"

// registerGatewayDirective registers a caddy-apigw directive that
// returns config values (like httpcaddyfile.RegisterDirective).
func registerGatewayDirective(dir string, fn httpcaddyfile.UnmarshalFunc) {
	gatewayDirectives[dir] = true
	httpcaddyfile.RegisterDirective(dir, withEdge(dir, fn))
}

// registerGatewayHandlerDirective registers a caddy-apigw handler
// directive (like httpcaddyfile.RegisterHandlerDirective).
func registerGatewayHandlerDirective(dir string, fn httpcaddyfile.UnmarshalHandlerFunc) {
	registerGatewayDirective(dir, func(h httpcaddyfile.Helper) ([]httpcaddyfile.ConfigValue, error) {
		if !h.Next() {
			return nil, h.ArgErr()
		}
		matcherSet, err := h.ExtractMatcherSet()
		if err != nil {
			return nil, err
		}
		val, err := fn(h)
		if err != nil {
			return nil, err
		}
		return h.NewRoute(matcherSet, val), nil
	})
}

func withEdge(dir string, fn httpcaddyfile.UnmarshalFunc) httpcaddyfile.UnmarshalFunc {
	return func(h httpcaddyfile.Helper) ([]httpcaddyfile.ConfigValue, error) {
		if h.IsNamedRoute() {
			return fn(h)
		}
		// errors below point at the directive's token
		h.Next()
		tok := h.Token()
		segs, id, ok := siteSegments(h)
		if !ok {
			return nil, h.Errf("%s: cannot read the site block to place apigw_edge (Caddy version not supported); write apigw_edge at the top of the site", dir)
		}
		carrier := -1
		for _, pref := range siteWideDirectives {
			for i, s := range segs {
				if s.Text == pref {
					carrier = i
					break
				}
			}
			if carrier >= 0 {
				break
			}
		}
		for i, s := range segs {
			if s.Text == "apigw_edge" {
				h.Reset()
				return fn(h)
			}
			if carrier < 0 && gatewayDirectives[s.Text] {
				carrier = i
			}
		}
		if carrier < 0 {
			return nil, h.Errf("%s is used only inside blocks of this site, so caddy-apigw's request hardening cannot be placed before the site's matchers: add the line `apigw_edge` at the top level of the site block", dir)
		}
		h.Reset()
		vals, err := fn(h)
		if err != nil {
			return nil, err
		}
		c := segs[carrier]
		if tok.Text != c.Text || tok.File != c.File || tok.Line != c.Line {
			return vals, nil
		}
		done, _ := h.State[edgeStateKey].(map[uintptr]bool)
		if done == nil {
			done = map[uintptr]bool{}
			h.State[edgeStateKey] = done
		}
		if done[id] {
			return vals, nil
		}
		done[id] = true
		route := caddyhttp.Route{HandlersRaw: []json.RawMessage{caddyconfig.JSONModuleObject(new(Edge), "handler", "apigw_edge", nil)}}
		return append([]httpcaddyfile.ConfigValue{{Class: "route", Value: route}}, vals...), nil
	}
}

// siteSegments returns the first token of each top-level segment of the
// site block h is parsing, and the identity of that block's segments.
func siteSegments(h httpcaddyfile.Helper) ([]caddyfile.Token, uintptr, bool) {
	pb := reflect.ValueOf(h).FieldByName("parentBlock")
	if !pb.IsValid() || pb.Kind() != reflect.Struct {
		return nil, 0, false
	}
	segs := pb.FieldByName("Segments")
	if !segs.IsValid() || segs.Kind() != reflect.Slice {
		return nil, 0, false
	}
	out := make([]caddyfile.Token, 0, segs.Len())
	for i := 0; i < segs.Len(); i++ {
		seg := segs.Index(i)
		if seg.Kind() != reflect.Slice || seg.Len() == 0 {
			continue
		}
		t := seg.Index(0)
		file, line, text := t.FieldByName("File"), t.FieldByName("Line"), t.FieldByName("Text")
		if !file.IsValid() || !line.IsValid() || !text.IsValid() {
			return nil, 0, false
		}
		out = append(out, caddyfile.Token{File: file.String(), Line: int(line.Int()), Text: text.String()})
	}
	if segs.Len() == 0 {
		return out, 0, true
	}
	return out, segs.Pointer(), true
}
