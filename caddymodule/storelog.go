package caddymodule

import (
	"errors"

	"github.com/apigw/caddy-apigw/failure"
	"go.uber.org/zap"
)

// logStoreError logs a store call that failed while serving a request. A
// store outage (failure.ErrUnavailable) is logged by the store itself, once
// as WARN when it starts and once as INFO when it ends, so per request it
// is only DEBUG: an outage under load must not write one ERROR per
// request. Any other failure is an ERROR an operator must look at.
func logStoreError(logger *zap.Logger, msg string, err error) {
	level := zap.ErrorLevel
	if errors.Is(err, failure.ErrUnavailable) {
		level = zap.DebugLevel
	}
	if c := logger.Check(level, msg); c != nil {
		c.Write(zap.Error(err))
	}
}
