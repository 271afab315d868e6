package caddymodule

// headerValues hands out header value slices backed by one small array
// per request. Handlers must never put a package-level or config-level
// slice into a response header map: Caddy's `header` handler (and others)
// rewrite h[name][i] in place, which would change the value for every
// later request and race with concurrent ones. A request costs one
// allocation however many headers it sets.
type headerValues struct{ buf []string }

// one returns a one-element slice holding v, with no spare capacity (an
// append by someone else reallocates instead of writing into our array).
func (a *headerValues) one(v string) []string {
	if len(a.buf) == cap(a.buf) {
		a.buf = make([]string, 0, 16)
	}
	a.buf = append(a.buf, v)
	n := len(a.buf)
	return a.buf[n-1 : n : n]
}

// many returns a slice holding vals, with no spare capacity.
func (a *headerValues) many(vals []string) []string {
	if len(a.buf)+len(vals) > cap(a.buf) {
		a.buf = make([]string, 0, max(16, len(vals)))
	}
	start := len(a.buf)
	a.buf = append(a.buf, vals...)
	return a.buf[start:len(a.buf):len(a.buf)]
}
