package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/apigw/caddy-apigw/failure"
)

// DefaultPrefix is put in front of every Redis key unless the URL's
// "prefix" query option says otherwise.
const DefaultPrefix = "apigw:"

// ResyncMessage is delivered to every Subscribe callback of a Redis store
// when Redis answers again after an outage: messages published while the
// connection was down are lost, so a subscriber that caches anything must
// drop its whole cache when it receives this message.
const ResyncMessage = "\x00resync"

// Observer receives the latency and outcome of every store operation and
// the store's health changes (caddy-apigw's Prometheus metrics). Its
// methods must be cheap and safe for concurrent use.
type Observer interface {
	// ObserveOp records one operation: op is the Redis command name
	// ("get", "set", "evalsha", "pipeline", …); err is nil on success
	// (a missing key is a success).
	ObserveOp(backend, op string, d time.Duration, err error)
	// ObserveHealth records that the backend became reachable (up) or not.
	ObserveHealth(backend string, up bool)
}

// errDown is returned without contacting Redis while an outage is known;
// a background probe detects the recovery.
var errDown = errors.New("redis is unreachable (waiting for it to recover)")

// Redis is the Store on a Redis server (go-redis UniversalClient: single
// node, Sentinel or Cluster).
//
// Every command has a bounded timeout (DefaultTimeout or the URL's
// timeout=). The first failure that means "Redis is unreachable" logs one
// warning and marks the store down; while it is down, operations fail at
// once with failure.ErrUnavailable (no request waits for a dead server) and a
// probe PINGs Redis every timeout; the first answer logs one info line,
// marks the store up and sends ResyncMessage to local subscribers.
type Redis struct {
	// Client is the underlying go-redis client; packages with atomic
	// Lua scripts of their own (the limiter) use it directly. Its
	// commands are timed and health-tracked like the Store's own.
	Client redis.UniversalClient
	// Prefix is prepended to every key and channel.
	Prefix string
	// Timeout bounds each Redis operation.
	Timeout time.Duration

	cluster  bool
	logger   *zap.Logger
	observer Observer

	down      atomic.Bool
	downSince atomic.Int64
	probing   atomic.Bool
	closed    chan struct{}
	closeOnce sync.Once

	mu       sync.Mutex
	pubsub   map[string]*redisSub
	watchers map[int]func(up bool, err error)
	nextW    int
}

type redisSub struct {
	ps   *redis.PubSub
	fns  map[int]func(string)
	next int
}

type probeKey struct{}

// NewRedis connects to the Redis described by rawURL (see Config for the
// URL forms and options). It never blocks for longer than the timeout:
// with startup=require it PINGs once and fails if Redis does not answer;
// by default it starts degraded (one warning) and recovers by itself.
// logger and obs may be nil.
func NewRedis(rawURL string, logger *zap.Logger, obs Observer) (*Redis, error) {
	set, err := parseRedisURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("store URL %s: %w", redactURL(rawURL), err)
	}
	if err := set.loadTLSFiles(); err != nil {
		return nil, fmt.Errorf("store URL %s: %w", redactURL(rawURL), err)
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	routeRedisLog(logger)
	r := &Redis{
		Client:   set.newClient(),
		Prefix:   set.prefix,
		Timeout:  set.timeout,
		cluster:  set.mode == modeCluster,
		logger:   logger,
		observer: obs,
		closed:   make(chan struct{}),
		pubsub:   map[string]*redisSub{},
	}
	r.Client.AddHook(redisHook{r})
	if obs != nil {
		obs.ObserveHealth("redis", true)
	}
	ctx, cancel := context.WithTimeout(context.WithValue(context.Background(), probeKey{}, true), r.Timeout)
	defer cancel()
	if err := r.Client.Ping(ctx).Err(); err != nil {
		if set.startup == StartupRequire {
			_ = r.Client.Close()
			return nil, fmt.Errorf("redis at %s did not answer PING within %s (startup=require): %w", redactURL(rawURL), r.Timeout, err)
		}
		// the hook has logged the one warning and started the probe
	}
	return r, nil
}

// Healthy reports whether the last contact with Redis succeeded.
func (r *Redis) Healthy() bool { return !r.down.Load() }

// OnHealth calls fn(false, err) once when an outage starts and fn(true,
// nil) once when it ends (the store's one breaker: users of Client such as
// the limiter log their own line per outage through it, never one per
// request). It returns the function that removes fn.
func (r *Redis) OnHealth(fn func(up bool, err error)) (remove func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.watchers == nil {
		r.watchers = map[int]func(bool, error){}
	}
	id := r.nextW
	r.nextW++
	r.watchers[id] = fn
	return func() {
		r.mu.Lock()
		delete(r.watchers, id)
		r.mu.Unlock()
	}
}

// notifyHealth calls the OnHealth watchers.
func (r *Redis) notifyHealth(up bool, err error) {
	r.mu.Lock()
	fns := make([]func(bool, error), 0, len(r.watchers))
	for _, fn := range r.watchers {
		fns = append(fns, fn)
	}
	r.mu.Unlock()
	for _, fn := range fns {
		fn(up, err)
	}
}

// outage reports whether err means Redis is unreachable or not serving
// (as opposed to a missing key or a command-level error such as
// NOSCRIPT, which go-redis handles itself).
func outage(err error) bool {
	if err == nil || errors.Is(err, redis.Nil) || errors.Is(err, context.Canceled) {
		return false
	}
	var rerr redis.Error
	if errors.As(err, &rerr) {
		msg := rerr.Error()
		for _, p := range []string{"LOADING", "READONLY", "CLUSTERDOWN", "MASTERDOWN", "NOAUTH", "WRONGPASS", "NOPERM", "TRYAGAIN"} {
			if strings.HasPrefix(msg, p) {
				return true
			}
		}
		return false
	}
	return true
}

func (r *Redis) markDown(err error) {
	if r.down.CompareAndSwap(false, true) {
		r.downSince.Store(time.Now().UnixNano())
		r.logger.Warn("redis store unreachable: requests that need it fail with 503 until it recovers",
			zap.Error(err), zap.Duration("timeout", r.Timeout))
		if r.observer != nil {
			r.observer.ObserveHealth("redis", false)
		}
		r.notifyHealth(false, err)
	}
	if r.probing.CompareAndSwap(false, true) {
		go r.probe()
	}
}

// suspect starts the probe without marking the store down: the probe
// marks it down if Redis does not answer a PING within the store's
// timeout, and stops at the first answer.
func (r *Redis) suspect() {
	if r.probing.CompareAndSwap(false, true) {
		go r.probe()
	}
}

// probe PINGs Redis every Timeout (at least 100ms) until it answers.
func (r *Redis) probe() {
	defer r.probing.Store(false)
	every := max(r.Timeout, 100*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-r.closed:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.WithValue(context.Background(), probeKey{}, true), r.Timeout)
		err := r.Client.Ping(ctx).Err()
		cancel()
		if err == nil {
			r.markUp()
			return
		}
	}
}

func (r *Redis) markUp() {
	if !r.down.CompareAndSwap(true, false) {
		return
	}
	since := time.Unix(0, r.downSince.Load())
	r.logger.Info("redis store recovered", zap.Duration("outage", time.Since(since).Round(time.Millisecond)))
	if r.observer != nil {
		r.observer.ObserveHealth("redis", true)
	}
	r.notifyHealth(true, nil)
	// Messages published during the outage are lost: tell subscribers.
	r.mu.Lock()
	var fns []func(string)
	for _, s := range r.pubsub {
		for _, fn := range s.fns {
			fns = append(fns, fn)
		}
	}
	r.mu.Unlock()
	for _, fn := range fns {
		fn(ResyncMessage)
	}
}

// redisHook times every command, feeds the health tracker and fails fast
// while an outage is known.
type redisHook struct{ r *Redis }

func (h redisHook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		return next(ctx, network, addr)
	}
}

func (h redisHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		return h.run(ctx, cmd.Name(), func() error { return next(ctx, cmd) }, cmd.SetErr, cmd)
	}
}

func (h redisHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		setErr := func(err error) {
			for _, c := range cmds {
				c.SetErr(err)
			}
		}
		return h.run(ctx, "pipeline", func() error { return next(ctx, cmds) }, setErr, cmds...)
	}
}

func (h redisHook) run(ctx context.Context, op string, call func() error, setErr func(error), cmds ...redis.Cmder) error {
	r := h.r
	probe := ctx.Value(probeKey{}) != nil
	if r.down.Load() && !probe {
		setErr(errDown)
		if r.observer != nil {
			r.observer.ObserveOp("redis", op, 0, errDown)
		}
		return errDown
	}
	start := time.Now()
	err := call()
	if r.observer != nil {
		r.observer.ObserveOp("redis", op, time.Since(start), countedErr(err, cmds))
	}
	switch {
	case outage(err) && !probe && callerBudget(ctx, start, r.Timeout) && IsTimeout(err):
		// the caller's own deadline, tighter than the store's timeout
		// (the limiter's per-decision budget), ran out: Redis is slow,
		// maybe not gone. The probe decides, with the store's timeout:
		// marking the store down here would make every user of the
		// store flap when Redis answers between the two timeouts.
		r.suspect()
	case outage(err):
		r.markDown(err)
	case probe && err == nil:
		r.markUp()
	}
	return err
}

// callerBudget reports whether ctx carries a deadline, set by the caller,
// shorter than the store's own timeout from start.
func callerBudget(ctx context.Context, start time.Time, timeout time.Duration) bool {
	dl, ok := ctx.Deadline()
	return ok && dl.Sub(start) < timeout
}

// IsTimeout reports whether err is a deadline or an I/O timeout (the
// socket deadline go-redis sets from the context).
func IsTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// countedErr is the error an operation counts as in the metrics: none for
// a missing key, for NOSCRIPT (the first EVALSHA after a Redis restart or
// SCRIPT FLUSH: go-redis loads the script and retries) and for go-redis's
// CLIENT SETINFO on every new connection, which Redis before 7.2 refuses
// (go-redis ignores that). Neither is a failure an operator must see.
func countedErr(err error, cmds []redis.Cmder) error {
	err = storeErr(err)
	if err == nil || !isCommandError(err) {
		return err
	}
	if strings.HasPrefix(err.Error(), "NOSCRIPT") {
		return nil
	}
	benign := len(cmds) > 0
	for _, c := range cmds {
		cerr := c.Err()
		if cerr == nil || errors.Is(cerr, redis.Nil) {
			continue
		}
		args := c.Args()
		isSetInfo := c.Name() == "client" && len(args) > 1 && strings.EqualFold(fmt.Sprint(args[1]), "setinfo")
		if !isSetInfo && !strings.HasPrefix(cerr.Error(), "NOSCRIPT") {
			benign = false
			break
		}
	}
	if benign {
		return nil
	}
	return err
}

// isCommandError reports a Redis error reply (as opposed to a network
// failure).
func isCommandError(err error) bool {
	var rerr redis.Error
	return errors.As(err, &rerr)
}

// storeErr hides redis.Nil (a missing key is not a failure).
func storeErr(err error) error {
	if errors.Is(err, redis.Nil) {
		return nil
	}
	return err
}

func wrapRedis(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, redis.Nil) {
		return ErrNotFound
	}
	// the text of the old store sentinel: "store: unavailable: …"
	return fmt.Errorf("store: %w: %w", failure.ErrUnavailable, err)
}

// Get implements Store.
func (r *Redis) Get(ctx context.Context, key string) ([]byte, error) {
	b, err := r.Client.Get(ctx, r.Prefix+key).Bytes()
	if err != nil {
		return nil, wrapRedis(err)
	}
	return b, nil
}

// Set implements Store.
func (r *Redis) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if ttl < 0 {
		ttl = 0
	}
	return wrapRedis(r.Client.Set(ctx, r.Prefix+key, value, ttl).Err())
}

// SetNX implements Store.
func (r *Redis) SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	if ttl < 0 {
		ttl = 0
	}
	// SET NX (not the SETNX command) so the TTL is set atomically.
	res, err := r.Client.SetArgs(ctx, r.Prefix+key, value, redis.SetArgs{Mode: "NX", TTL: ttl}).Result()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, wrapRedis(err)
	}
	return res == "OK", nil
}

// Delete implements Store. In a cluster the keys may live in different
// slots, so they are deleted one by one in a pipeline.
func (r *Redis) Delete(ctx context.Context, keys ...string) error {
	switch {
	case len(keys) == 0:
		return nil
	case len(keys) == 1:
		return wrapRedis(r.Client.Del(ctx, r.Prefix+keys[0]).Err())
	case r.cluster:
		_, err := r.Client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range keys {
				p.Del(ctx, r.Prefix+k)
			}
			return nil
		})
		return wrapRedis(err)
	}
	full := make([]string, len(keys))
	for i, k := range keys {
		full[i] = r.Prefix + k
	}
	return wrapRedis(r.Client.Del(ctx, full...).Err())
}

// IndexAdd implements Store: ZADD and EXPIRE in one MULTI/EXEC round trip.
func (r *Redis) IndexAdd(ctx context.Context, index, member string, score int64, ttl time.Duration) error {
	k := r.Prefix + index
	_, err := r.Client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.ZAdd(ctx, k, redis.Z{Score: float64(score), Member: member})
		if ttl > 0 {
			p.PExpire(ctx, k, ttl)
		}
		return nil
	})
	return wrapRedis(err)
}

// IndexMembers implements Store.
func (r *Redis) IndexMembers(ctx context.Context, index string) ([]string, error) {
	out, err := r.Client.ZRange(ctx, r.Prefix+index, 0, -1).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	return out, wrapRedis(err)
}

// IndexRemove implements Store.
func (r *Redis) IndexRemove(ctx context.Context, index string, members ...string) error {
	if len(members) == 0 {
		return nil
	}
	args := make([]any, len(members))
	for i, m := range members {
		args[i] = m
	}
	return wrapRedis(r.Client.ZRem(ctx, r.Prefix+index, args...).Err())
}

// Keys implements Store with SCAN (never KEYS), on every master of a
// cluster.
func (r *Redis) Keys(ctx context.Context, prefix string) ([]string, error) {
	pattern := escapeGlob(r.Prefix+prefix) + "*"
	scan := func(ctx context.Context, c redis.Cmdable) ([]string, error) {
		var out []string
		iter := c.Scan(ctx, 0, pattern, 500).Iterator()
		for iter.Next(ctx) {
			out = append(out, strings.TrimPrefix(iter.Val(), r.Prefix))
		}
		return out, iter.Err()
	}
	if cc, ok := r.Client.(*redis.ClusterClient); ok {
		var mu sync.Mutex
		var all []string
		err := cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			ks, err := scan(ctx, c)
			mu.Lock()
			all = append(all, ks...)
			mu.Unlock()
			return err
		})
		return all, wrapRedis(err)
	}
	out, err := scan(ctx, r.Client)
	return out, wrapRedis(err)
}

// escapeGlob escapes Redis MATCH pattern metacharacters.
func escapeGlob(s string) string {
	if !strings.ContainsAny(s, `*?[]\`) {
		return s
	}
	var b strings.Builder
	for _, c := range s {
		if strings.ContainsRune(`*?[]\`, c) {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// Publish implements Store.
func (r *Redis) Publish(ctx context.Context, channel, msg string) error {
	return wrapRedis(r.Client.Publish(ctx, r.Prefix+channel, msg).Err())
}

// Subscribe implements Store. go-redis re-subscribes by itself after a
// reconnect; messages published meanwhile are lost, which is why
// subscribers receive ResyncMessage after an outage.
func (r *Redis) Subscribe(channel string, fn func(msg string)) func() {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.pubsub[channel]
	if s == nil {
		ps := r.Client.Subscribe(context.Background(), r.Prefix+channel)
		s = &redisSub{ps: ps, fns: map[int]func(string){}}
		r.pubsub[channel] = s
		go r.dispatch(s)
	}
	id := s.next
	s.next++
	s.fns[id] = fn
	return func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		delete(s.fns, id)
		if len(s.fns) == 0 && r.pubsub[channel] == s {
			delete(r.pubsub, channel)
			_ = s.ps.Close()
		}
	}
}

func (r *Redis) dispatch(s *redisSub) {
	for msg := range s.ps.Channel() {
		r.mu.Lock()
		fns := make([]func(string), 0, len(s.fns))
		for _, fn := range s.fns {
			fns = append(fns, fn)
		}
		r.mu.Unlock()
		for _, fn := range fns {
			fn(msg.Payload)
		}
	}
}

// Kind implements Store.
func (r *Redis) Kind() string { return "redis" }

// Close implements Store.
func (r *Redis) Close() error {
	r.closeOnce.Do(func() { close(r.closed) })
	r.mu.Lock()
	for ch, s := range r.pubsub {
		_ = s.ps.Close()
		delete(r.pubsub, ch)
	}
	r.mu.Unlock()
	return r.Client.Close()
}

// Open returns the Store described by cfg.
func Open(cfg Config) (Store, error) {
	switch cfg.Kind {
	case "", "memory":
		return NewMemory(0), nil
	case "redis":
		return NewRedis(cfg.URL, cfg.Logger, cfg.Observer)
	default:
		return nil, fmt.Errorf("unknown store kind %q", cfg.Kind)
	}
}

var _ Store = (*Redis)(nil)
