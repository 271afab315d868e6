package limiter

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/apigw/caddy-apigw/failure"
	"github.com/apigw/caddy-apigw/store"
)

// gcraScript is the whole decision for one key, atomic on the Redis
// server. It uses the server's clock (TIME, microseconds), so the clocks
// of the gateway hosts sharing the Redis do not matter, and it gives every
// key a TTL equal to the time until its bucket is full again, after which
// the key is indistinguishable from a missing one.
//
// KEYS[1] the key; ARGV[1] emission interval in µs; ARGV[2] burst;
// ARGV[3] "take" or "refund".
// Returns {allowed, remaining, retry_after_us, reset_us}.
var gcraScript = redis.NewScript(`
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tau = interval * tonumber(ARGV[2])
local v = redis.call('GET', KEYS[1])
local tat = now
if v then tat = tonumber(v) or now end
if ARGV[3] == 'refund' then
  if v then
    tat = tat - interval
    if tat <= now then
      redis.call('DEL', KEYS[1])
    else
      redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000))
    end
  end
  return {1, 0, 0, 0}
end
if tat < now then tat = now end
local nxt = tat + interval
if nxt - now > tau then
  return {0, 0, nxt - now - tau, tat - now}
end
redis.call('SET', KEYS[1], string.format('%.0f', nxt), 'PX', math.ceil((nxt - now) / 1000))
return {1, math.floor((tau - (nxt - now)) / interval), 0, nxt - now}
`)

// slidingScript is the sliding window counter (see sliding.go, which it
// mirrors step by step in the same floating-point order) for one key,
// atomic on the Redis server and on its clock (TIME, microseconds;
// windows are aligned on the Unix epoch). The key is a hash of the
// current window index i and the counts p (previous window) and c
// (current window); it expires at the end of the window after i, when
// both counts have stopped weighing (at most two windows).
//
// KEYS[1] the key; ARGV[1] window in µs; ARGV[2] limit (events);
// ARGV[3] "take" or "refund".
// Returns {allowed, remaining, retry_after_us, reset_us}.
var slidingScript = redis.NewScript(slidingLua)

// calendarScript is calendarLua (calendar.go).
var calendarScript = redis.NewScript(calendarLua)

const slidingLua = `
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local w = tonumber(ARGV[1])
local l = tonumber(ARGV[2])
local k = math.floor(now / w)
local e = now - k * w
local v = redis.call('HMGET', KEYS[1], 'i', 'p', 'c')
local stored = tonumber(v[1])
local prev, curr = 0, 0
if stored == k then
  prev, curr = tonumber(v[2]) or 0, tonumber(v[3]) or 0
elseif stored == k - 1 then
  prev = tonumber(v[3]) or 0
end
local function save()
  if prev <= 0 and curr <= 0 then
    redis.call('DEL', KEYS[1])
    return
  end
  redis.call('HSET', KEYS[1], 'i', string.format('%.0f', k), 'p', string.format('%.0f', prev), 'c', string.format('%.0f', curr))
  redis.call('PEXPIRE', KEYS[1], math.ceil(((k + 2) * w - now) / 1000))
end
if ARGV[3] == 'refund' then
  if stored == k then
    curr = math.max(curr - 1, 0)
    save()
  elseif stored == k - 1 then
    prev = math.max(prev - 1, 0)
    save()
  end
  return {1, 0, 0, 0}
end
local function est(p, c, x) return p * (w - x) / w + c end
local function allowed(p, c, x, lim) return est(p, c, x) + 1 <= lim end
local function wait(p, c, lim)
  local function fits(d)
    local x = e + d
    if x < w then return allowed(p, c, x, lim) end
    x = x - w
    if x < w then return allowed(c, 0, x, lim) end
    return true
  end
  if fits(0) then return 0 end
  local d = nil
  if c + 1 <= lim and p > 0 then
    local x = math.ceil(w * (1 - (lim - 1 - c) / p))
    if x < w then d = math.max(x - e, 0) end
  end
  if d == nil then
    local x = 0
    if c > lim - 1 then x = math.ceil(w * (1 - (lim - 1) / c)) end
    d = w - e + math.max(x, 0)
  end
  local i = 0
  while i < 64 and d > 0 and fits(d - 1) do d = d - 1; i = i + 1 end
  i = 0
  while i < 64 and not fits(d) do d = d + 1; i = i + 1 end
  while not fits(d) do d = d + math.max(math.floor(w / 1000), 1) end
  return d
end
if not allowed(prev, curr, e, l) then
  local rem = math.max(math.floor(l - est(prev, curr, e)), 0)
  return {0, rem, wait(prev, curr, l), 0}
end
curr = curr + 1
save()
local rem = math.max(math.floor(l - est(prev, curr, e)), 0)
return {1, rem, 0, wait(prev, curr, l - rem)}
`

// RedisConn is the limiter's use of the store's Redis (single node,
// Sentinel or Cluster), shared by every zone on it. It bounds each
// decision with its own timeout (a context deadline, no goroutine); the
// outage breaker is the store's one (store.Redis): after a failure every
// command fails at once with failure.ErrUnavailable (a dead Redis never
// stalls a request) until the store's probe sees Redis answer again, so
// the limiter recovers without a restart.
type RedisConn struct {
	store   *store.Redis
	prefix  string
	timeout time.Duration
	remove  func()
}

// RedisOptions configure NewRedisConn.
type RedisOptions struct {
	// Prefix is put in front of every key (e.g. "apigw:rl:").
	Prefix string
	// Timeout bounds one decision (default 100ms).
	Timeout time.Duration
	// OnOutage is called once when the store's Redis starts failing,
	// OnRecover once when it answers again: one log line per outage, not
	// per request.
	OnOutage  func(error)
	OnRecover func()
}

// NewRedisConn returns the limiter's connection state on the store rs.
// The store's client has ContextTimeoutEnabled, so the per-decision
// Timeout bounds the socket reads and writes. Call Close to stop the
// OnOutage and OnRecover calls.
func NewRedisConn(rs *store.Redis, opts RedisOptions) *RedisConn {
	if opts.Timeout <= 0 {
		opts.Timeout = 100 * time.Millisecond
	}
	c := &RedisConn{store: rs, prefix: opts.Prefix, timeout: opts.Timeout, remove: func() {}}
	if opts.OnOutage != nil || opts.OnRecover != nil {
		c.remove = rs.OnHealth(func(up bool, err error) {
			switch {
			case !up && opts.OnOutage != nil:
				opts.OnOutage(err)
			case up && opts.OnRecover != nil:
				opts.OnRecover()
			}
		})
	}
	return c
}

// Close stops the OnOutage and OnRecover calls; the client belongs to the
// store.
func (c *RedisConn) Close() error {
	c.remove()
	return nil
}

// Zone returns the limiter of one zone. Its keys are
// prefix + zone + ":" + base64url(SHA-256(key))[:22], so the key (which
// may be an API key or an IP address) is never stored in clear and its
// length is bounded.
func (c *RedisConn) Zone(zone string, policy Policy) (*Redis, error) {
	if err := policy.Validate(); err != nil {
		return nil, err
	}
	if policy.Rate.Calendar != Rolling {
		period := "day"
		if policy.Rate.Calendar == CalendarMonth {
			period = "month"
		}
		return &Redis{conn: c, script: calendarScript, prefix: c.prefix + zone + ":", arg1: period,
			arg2: strconv.FormatInt(policy.Rate.Events, 10)}, nil
	}
	if policy.Algorithm == SlidingWindow {
		us := int64(policy.Rate.Window / time.Microsecond)
		return &Redis{conn: c, script: slidingScript, prefix: c.prefix + zone + ":", arg1: strconv.FormatInt(us, 10),
			arg2: strconv.FormatInt(policy.Rate.Events, 10)}, nil
	}
	us := int64(policy.Rate.Interval() / time.Microsecond)
	return &Redis{conn: c, script: gcraScript, prefix: c.prefix + zone + ":", arg1: strconv.FormatInt(us, 10),
		arg2: strconv.FormatInt(policy.Burst, 10)}, nil
}

// Healthy reports whether the store's last contact with Redis succeeded.
func (c *RedisConn) Healthy() bool { return c.store.Healthy() }

func (c *RedisConn) run(ctx context.Context, script *redis.Script, key, mode string, arg1, arg2 string) ([]int64, error) {
	// The deadline reaches the socket through the client: go-redis sets
	// read and write deadlines from the context when the client has
	// ContextTimeoutEnabled (the store's clients do), so a decision costs
	// no goroutine of its own. While the store knows of an outage its
	// hook fails the call at once.
	callCtx, cancel := context.WithTimeout(ctx, c.timeout)
	vals, err := script.Run(callCtx, c.store.Client, []string{key}, arg1, arg2, mode).Int64Slice()
	if err != nil && (errors.Is(callCtx.Err(), context.DeadlineExceeded) || store.IsTimeout(err)) {
		// the socket deadline is the context's: report it as such
		err = fmt.Errorf("%w: %w", context.DeadlineExceeded, err)
	}
	cancel()
	if err == nil && len(vals) != 4 {
		err = fmt.Errorf("unexpected script reply %v", vals)
	}
	if err != nil {
		return nil, fmt.Errorf("limiter: %w: %w", failure.ErrUnavailable, err)
	}
	return vals, nil
}

// Redis is one zone's limiter on a RedisConn, running the zone's
// algorithm (GCRA or sliding window) as one script per decision.
type Redis struct {
	conn   *RedisConn
	script *redis.Script
	prefix string
	// script arguments: GCRA emission interval µs and burst, or sliding
	// window length µs and limit
	arg1, arg2 string
}

func (z *Redis) key(k string) string {
	sum := sha256.Sum256([]byte(k))
	var enc [44]byte
	base64.RawURLEncoding.Encode(enc[:], sum[:])
	return z.prefix + string(enc[:22])
}

// Take implements Limiter: one EVALSHA round trip.
func (z *Redis) Take(ctx context.Context, key string) (Result, error) {
	v, err := z.conn.run(ctx, z.script, z.key(key), "take", z.arg1, z.arg2)
	if err != nil {
		return Result{}, err
	}
	return Result{Allowed: v[0] == 1, Remaining: v[1],
		RetryAfter: time.Duration(v[2]) * time.Microsecond, Reset: time.Duration(v[3]) * time.Microsecond}, nil
}

// Refund implements Limiter.
func (z *Redis) Refund(ctx context.Context, key string) error {
	_, err := z.conn.run(ctx, z.script, z.key(key), "refund", z.arg1, z.arg2)
	return err
}

var _ Limiter = (*Redis)(nil)
