// Package e2e holds caddy-apigw's end-to-end tests that need more than one
// real process: the gateway binary over automatic HTTPS with a local ACME
// CA (Pebble), several instances sharing Caddy storage and a Redis store.
// It has no non-test code besides this comment.
package e2e
