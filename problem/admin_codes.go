package problem

// Codes of the admin API (under /apigw/ on Caddy's admin endpoint) beyond
// the request-path codes in problem.go.
const (
	// CodeConflict (409): the change conflicts with the current state: an
	// id that exists already, or a key that comes from the configuration
	// (change it there).
	CodeConflict = "conflict"
	// CodePreconditionFailed (412): If-Match does not match the current
	// ETag: the resource changed since it was read.
	CodePreconditionFailed = "precondition_failed"
)
