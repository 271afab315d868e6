package caddymodule

import (
	"fmt"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/apigw/caddy-apigw/limiter"
	"github.com/apigw/caddy-apigw/store"
)

// A zone's counters: a memory table of the running process, or the zones
// of the store's Redis.

// rateLimitState keeps every zone's counters (memory tables) and the
// limiter's per-Redis connection state alive across config reloads: a
// new config loads the same keys before the old one is cleaned up, so
// `caddy reload` and `POST /load` never reset a limit.
var rateLimitState = caddy.NewUsagePool()

type memTable struct{ limiter.MemoryTable }

func (m memTable) Destruct() error { return m.Close() }

type redisConn struct{ *limiter.RedisConn }

func (c redisConn) Destruct() error { return c.Close() } // the client belongs to the store

// openCounters attaches every zone to its counters in the store of the
// running config: a pooled memory table, or the shared Redis connection.
func (rl *RateLimit) openCounters(ctx caddy.Context) error {
	st, err := StoreFrom(ctx)
	if err != nil {
		return fmt.Errorf("apigw_rate_limit: %w", err)
	}
	var conn *limiter.RedisConn
	if rs, ok := st.(*store.Redis); ok {
		key := fmt.Sprintf("redis|%p|%s", rs, time.Duration(rl.StoreTimeout))
		val, _, err := rateLimitState.LoadOrNew(key, func() (caddy.Destructor, error) {
			logger := rl.logger
			return redisConn{limiter.NewRedisConn(rs, limiter.RedisOptions{
				Prefix:  rs.Prefix + "rl:",
				Timeout: time.Duration(rl.StoreTimeout),
				OnOutage: func(err error) {
					logger.Warn("rate limit store unavailable; routes apply their on_store_error mode until it recovers", zap.Error(err))
				},
				OnRecover: func() { logger.Info("rate limit store recovered") },
			})}, nil
		})
		if err != nil {
			return fmt.Errorf("apigw_rate_limit: %w", err)
		}
		rl.poolKeys = append(rl.poolKeys, key)
		conn = val.(redisConn).RedisConn
	}
	for _, z := range rl.Zones {
		for _, zl := range z.zone.Limits {
			if err := rl.openLimit(z, zl, conn); err != nil {
				return err
			}
		}
	}
	return nil
}

// openLimit attaches one limit of zone z to its counters: on the Redis
// connection, or a pooled memory table.
func (rl *RateLimit) openLimit(z *RateLimitZone, zl *limiter.ZoneLimit, conn *limiter.RedisConn) error {
	if conn != nil {
		lim, err := conn.Zone(z.Name+":"+zl.Signature(), zl.Policy)
		if err != nil {
			return fmt.Errorf("apigw_rate_limit zone %s: %w", z.Name, err)
		}
		zl.Limiter = lim
		return nil
	}
	key := "memory|" + z.Name + "|" + zl.Signature() + "|" + strconv.Itoa(z.MaxKeys)
	name, maxKeys, logger := z.Name, z.MaxKeys, rl.logger
	val, _, err := rateLimitState.LoadOrNew(key, func() (caddy.Destructor, error) {
		m, err := limiter.NewMemoryTable(zl.Policy, limiter.MemoryOptions{
			MaxKeys: maxKeys,
			OnFull: func() {
				logger.Warn("rate limit zone is full; evicting the keys closest to idle (raise max_keys if this is legitimate traffic)",
					zap.String("zone", name), zap.Int("max_keys", maxKeys))
			},
		})
		if err != nil {
			return nil, err
		}
		return memTable{m}, nil
	})
	if err != nil {
		return fmt.Errorf("apigw_rate_limit zone %s: %w", z.Name, err)
	}
	rl.poolKeys = append(rl.poolKeys, key)
	zl.Limiter = val.(memTable).MemoryTable
	return nil
}
