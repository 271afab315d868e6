// Package problem holds caddy-apigw's one error shape: RFC 9457 problem
// details with a stable, documented code and the request id.
//
// Handlers never write this JSON themselves: they return a *Problem inside
// caddyhttp.Error and one renderer (caddymodule's apigw_problem handler,
// installed as an error route by the apigw_errors directive) writes it.
package problem

import (
	"net/http"
	"strconv"
)

// Stable error codes that clients may switch on (DESIGN.md, "Error codes").
const (
	CodeMissingCredentials   = "missing_credentials"
	CodeInvalidAPIKey        = "invalid_api_key"
	CodeInvalidToken         = "invalid_token"
	CodeTokenExpired         = "token_expired"
	CodeTokenRevoked         = "token_revoked"
	CodeInvalidSession       = "invalid_session"
	CodeInvalidCredentials   = "invalid_credentials"
	CodeInvalidSignature     = "invalid_signature"
	CodeReplayedRequest      = "replayed_request"
	CodeCSRFRejected         = "csrf_rejected"
	CodeInsufficientScope    = "insufficient_scope"
	CodeRateLimited          = "rate_limited"
	CodeValidationFailed     = "validation_failed"
	CodePayloadTooLarge      = "payload_too_large"
	CodeUnsupportedMediaType = "unsupported_media_type"
	CodeNotFound             = "not_found"
	CodeMethodNotAllowed     = "method_not_allowed"
	CodeBadRequest           = "bad_request"
	CodeUpstreamError        = "upstream_error"
	CodeServiceUnavailable   = "service_unavailable"
	CodeInternalError        = "internal_error"
	// CodeInvalidDPoPProof: a missing or bad DPoP proof (RFC 9449).
	CodeInvalidDPoPProof = "invalid_dpop_proof"
)

// FieldError is one entry of the "errors" member of a validation problem.
// Message never echoes raw client input.
type FieldError struct {
	// Field is a JSON pointer (RFC 6901) to the offending value, e.g.
	// "/email", or "query/page" / "header/X-Foo" for non-body input.
	Field string `json:"field"`
	// Rule names the rule that failed, e.g. "required", "maxLength", "type".
	Rule string `json:"rule"`
	// Message is a short human explanation that never contains the input.
	Message string `json:"message"`
}

// Problem is an RFC 9457 problem. It implements error so that it can travel
// inside caddyhttp.Error to the renderer; its Error text is the detail and
// never contains secrets.
type Problem struct {
	// Status is the HTTP status code.
	Status int
	// Code is one of the Code* constants.
	Code string
	// Detail is a human-readable, safe explanation.
	Detail string
	// Errors lists field-level details (validation).
	Errors []FieldError
	// Header holds extra response headers the renderer sets
	// (WWW-Authenticate, Retry-After, RateLimit...). May be nil.
	Header http.Header
}

// New returns a problem with the given status, code and detail.
func New(status int, code, detail string) *Problem {
	return &Problem{Status: status, Code: code, Detail: detail}
}

// WithHeader sets a response header on p and returns p.
func (p *Problem) WithHeader(name, value string) *Problem {
	if p.Header == nil {
		p.Header = make(http.Header, 1)
	}
	p.Header.Set(name, value)
	return p
}

// Error returns "code: detail"; it is what Caddy logs and puts in {err.message}.
func (p *Problem) Error() string { return p.Code + ": " + p.Detail }

// Title returns the standard status text used as the problem's title.
func (p *Problem) Title() string {
	if t := http.StatusText(p.Status); t != "" {
		return t
	}
	return "Error"
}

// ContentType is the media type of a rendered problem.
const ContentType = "application/problem+json"

// AppendJSON appends the problem's JSON encoding, including requestID, to
// dst and returns the extended buffer. It does no reflection.
func (p *Problem) AppendJSON(dst []byte, requestID string) []byte {
	dst = append(dst, `{"type":"about:blank","title":`...)
	dst = appendString(dst, p.Title())
	dst = append(dst, `,"status":`...)
	dst = strconv.AppendInt(dst, int64(p.Status), 10)
	dst = append(dst, `,"detail":`...)
	dst = appendString(dst, p.Detail)
	dst = append(dst, `,"code":`...)
	dst = appendString(dst, p.Code)
	dst = append(dst, `,"request_id":`...)
	dst = appendString(dst, requestID)
	if len(p.Errors) > 0 {
		dst = append(dst, `,"errors":[`...)
		for i, fe := range p.Errors {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"field":`...)
			dst = appendString(dst, fe.Field)
			dst = append(dst, `,"rule":`...)
			dst = appendString(dst, fe.Rule)
			dst = append(dst, `,"message":`...)
			dst = appendString(dst, fe.Message)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	return append(dst, '}', '\n')
}

// Write sets the problem's headers and writes it to w with requestID.
func (p *Problem) Write(w http.ResponseWriter, requestID string) {
	h := w.Header()
	for k, v := range p.Header {
		h[k] = v
	}
	h.Set("Content-Type", ContentType)
	h.Set("Cache-Control", "no-store")
	h.Del("Content-Length")
	h.Del("Content-Encoding")
	w.WriteHeader(p.Status)
	_, _ = w.Write(p.AppendJSON(make([]byte, 0, 256), requestID))
}

// statusProblems are the fixed code and detail of the statuses the
// gateway answers with a generic problem.
var statusProblems = [...]struct {
	status       int
	code, detail string
}{
	{http.StatusBadRequest, CodeBadRequest, "the request could not be understood"},
	{http.StatusUnauthorized, CodeMissingCredentials, "authentication is required"},
	{http.StatusForbidden, CodeInsufficientScope, "access to this resource is forbidden"},
	{http.StatusNotFound, CodeNotFound, "no such resource"},
	{http.StatusMethodNotAllowed, CodeMethodNotAllowed, "method not allowed on this resource"},
	{http.StatusRequestEntityTooLarge, CodePayloadTooLarge, "request body is too large"},
	{http.StatusUnsupportedMediaType, CodeUnsupportedMediaType, "unsupported content type"},
	{http.StatusTooManyRequests, CodeRateLimited, "too many requests"},
	{http.StatusBadGateway, CodeUpstreamError, "the upstream service failed"},
	{http.StatusServiceUnavailable, CodeServiceUnavailable, "the service is temporarily unavailable"},
	{http.StatusGatewayTimeout, CodeUpstreamError, "the upstream service did not answer in time"},
}

// ForStatus returns the generic problem the gateway uses for a bare status
// (an error raised by Caddy itself, or a scrubbed upstream error): a safe,
// fixed detail that never repeats the original error text. Another 4xx
// is bad_request with its status; anything else is a 500 internal_error.
func ForStatus(status int) *Problem {
	for _, sp := range statusProblems {
		if sp.status == status {
			return New(status, sp.code, sp.detail)
		}
	}
	if status >= 400 && status < 500 {
		return New(status, CodeBadRequest, "the request was rejected")
	}
	return New(http.StatusInternalServerError, CodeInternalError, "an internal error occurred")
}

// ForUpstream is the problem a client sees instead of an upstream
// answer with the given status. The status is kept and only the body is
// replaced (DESIGN.md: "Upstream 5xx bodies ... are replaced by this
// shape"; the demo's /boom answers 500): 503 is service_unavailable, 504
// "did not answer in time", every other 5xx upstream_error; a scrubbed
// 4xx keeps its status with a generic problem.
func ForUpstream(status int) *Problem {
	switch {
	case status == http.StatusServiceUnavailable:
		return New(status, CodeServiceUnavailable, "the upstream service is temporarily unavailable")
	case status == http.StatusGatewayTimeout:
		return New(status, CodeUpstreamError, "the upstream service did not answer in time")
	case status >= 500 && status <= 599:
		return New(status, CodeUpstreamError, "the upstream service failed")
	case status >= 500:
		return New(http.StatusBadGateway, CodeUpstreamError, "the upstream service failed")
	default:
		return ForStatus(status)
	}
}

const hex = "0123456789abcdef"

// appendString appends s as a JSON string literal. It escapes quotes,
// backslashes, control characters and <, >, & (so a problem is safe to
// embed), and passes other UTF-8 through.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"':
			dst = append(dst, '\\', '"')
		case '\\':
			dst = append(dst, '\\', '\\')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
