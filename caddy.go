// Package caddyapigw registers every caddy-apigw module with Caddy, so that
// one line builds a gateway:
//
//	xcaddy build --with github.com/apigw/caddy-apigw
package caddyapigw

import (
	// The Caddy adapters: modules, Caddyfile directives, admin API routes.
	_ "github.com/apigw/caddy-apigw/caddymodule"
)
