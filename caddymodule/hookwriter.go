package caddymodule

import (
	"io"
	"net/http"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// headerHook runs once, just before the response header goes out, with
// the final status (security headers re-applied, CORS grant settled,
// failed-attempt zones settled). It is a value type so the writer that
// carries it costs one allocation.
type headerHook interface {
	beforeHeader(h http.Header, status int)
}

// hookWriter calls its hook once before the response header is written:
// at the first final (>= 200) WriteHeader, or at the first Write or
// ReadFrom, which imply 200.
type hookWriter[H headerHook] struct {
	caddyhttp.ResponseWriterWrapper
	hook  H
	wrote bool
}

func newHookWriter[H headerHook](w http.ResponseWriter, hook H) *hookWriter[H] {
	return &hookWriter[H]{ResponseWriterWrapper: caddyhttp.ResponseWriterWrapper{ResponseWriter: w}, hook: hook}
}

// WriteHeader runs the hook on the first final status.
func (w *hookWriter[H]) WriteHeader(status int) {
	if !w.wrote && status >= 200 {
		w.wrote = true
		w.hook.beforeHeader(w.ResponseWriter.Header(), status)
	}
	w.ResponseWriter.WriteHeader(status)
}

// Write implies status 200 if none was written.
func (w *hookWriter[H]) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// ReadFrom implies status 200 before a sendfile-style copy.
func (w *hookWriter[H]) ReadFrom(src io.Reader) (int64, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriterWrapper.ReadFrom(src)
}

// finish runs the hook with status if no header was written (the handler
// returned an error, or wrote nothing).
func (w *hookWriter[H]) finish(status int) {
	if !w.wrote {
		w.wrote = true
		w.hook.beforeHeader(w.ResponseWriter.Header(), status)
	}
}

// Interface guards
var _ io.ReaderFrom = (*hookWriter[countingHook])(nil)
