package edge

import (
	"errors"
	"io"
	"net"
	"net/http"
)

// Body wraps a request body for the edge: it marks the client's body
// errors (bad chunk framing, a body shorter than its Content-Length) as
// *FramingError, so they are answered 400 bad_request, not 502
// upstream_error; at EOF it drops the trailers net/http has just filled
// in (or, when they are allowed, their gateway-owned names), before a
// reverse proxy copies them.
type Body struct {
	io.ReadCloser
	req           *http.Request
	allowTrailers bool
	failed        bool
}

// WrapBody puts a Body around r.Body (which must not be nil or
// http.NoBody) and returns it. It costs one small allocation: the
// wrapper must outlive the handler wherever the body is still read, so
// it is not pooled.
func WrapBody(r *http.Request, o Options) *Body {
	b := &Body{ReadCloser: r.Body, req: r, allowTrailers: o.AllowTrailers}
	r.Body = b
	return b
}

// Failed reports whether a read of the body failed on the client's
// framing.
func (b *Body) Failed() bool { return b.failed }

// Read reads from the client's body.
func (b *Body) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	switch {
	case err == nil:
	case err == io.EOF:
		if !b.allowTrailers {
			b.req.Trailer = nil
		} else {
			for k := range b.req.Trailer {
				if IsGatewayOwned(k) {
					delete(b.req.Trailer, k)
				}
			}
		}
	case isClientFramingError(err):
		b.failed = true
		err = &FramingError{Err: err}
	}
	return n, err
}

// isClientFramingError: any body read error that is not the connection
// failing or timing out (net.Error), nor a body size limit (the server
// answers 413 for those), is the client's framing: net/http's chunked
// reader reports malformed chunks with plain errors.New values.
func isClientFramingError(err error) bool {
	var ne net.Error
	var mb *http.MaxBytesError
	return !errors.As(err, &ne) && !errors.As(err, &mb) && !errors.Is(err, http.ErrBodyReadAfterClose)
}

// FramingError is a client's request body that could not be read as
// framed: a malformed chunk (bad size, bare LF line endings, overflow),
// or a body shorter than its Content-Length. It is the client's error
// (400), never the upstream's.
type FramingError struct {
	Err error
}

func (e *FramingError) Error() string { return "malformed request body framing: " + e.Err.Error() }

// Unwrap returns the read error.
func (e *FramingError) Unwrap() error { return e.Err }
