package store

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// redisLogger routes go-redis's own log lines (pool, reconnect and pub/sub
// messages, written with the standard library's log package by default)
// through zap, so every line the gateway writes is JSON. They are logged
// at DEBUG: an outage is reported once by the store itself (one WARN when
// it starts, one INFO when it ends), and go-redis repeats itself on every
// failed dial. go-redis has one process-wide logger: the newest store's
// logger receives them.
type redisLogger struct{ l atomic.Pointer[zap.Logger] }

var (
	goRedisLog     redisLogger
	goRedisLogOnce sync.Once
)

// Printf implements go-redis's internal.Logging.
func (g *redisLogger) Printf(_ context.Context, format string, v ...any) {
	l := g.l.Load()
	if l == nil {
		return
	}
	if c := l.Check(zap.DebugLevel, "go-redis"); c != nil {
		c.Write(zap.String("detail", fmt.Sprintf(format, v...)))
	}
}

// routeRedisLog sends go-redis's log lines to logger.
func routeRedisLog(logger *zap.Logger) {
	goRedisLog.l.Store(logger.Named("go-redis"))
	goRedisLogOnce.Do(func() { redis.SetLogger(&goRedisLog) })
}
