package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultPrefix is put in front of every Redis key unless the URL's
// "prefix" query option says otherwise.
const DefaultPrefix = "apigw:"

// Redis is the Store on a Redis server (go-redis UniversalClient: single
// node, Sentinel or Cluster).
type Redis struct {
	// Client is the underlying go-redis client; packages with atomic
	// Lua scripts of their own (the limiter) use it directly.
	Client redis.UniversalClient
	// Prefix is prepended to every key.
	Prefix string

	mu     sync.Mutex
	pubsub map[string]*redisSub
}

type redisSub struct {
	ps   *redis.PubSub
	fns  map[int]func(string)
	next int
}

// NewRedis connects to the Redis described by rawURL. Extra query options
// understood besides go-redis's own: prefix=<key prefix>.
func NewRedis(rawURL string) (*Redis, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("parsing store URL %s: %w", redactURL(rawURL), err)
	}
	q := u.Query()
	prefix := DefaultPrefix
	if q.Has("prefix") {
		prefix = q.Get("prefix")
		q.Del("prefix")
	}
	u.RawQuery = q.Encode()
	opts, err := redis.ParseURL(u.String())
	if err != nil {
		return nil, fmt.Errorf("parsing store URL %s: %w", redactURL(rawURL), err)
	}
	if opts.DialTimeout == 0 || opts.DialTimeout > 2*time.Second {
		opts.DialTimeout = 500 * time.Millisecond
	}
	if opts.ReadTimeout == 0 || opts.ReadTimeout > 2*time.Second {
		opts.ReadTimeout = 500 * time.Millisecond
	}
	if opts.WriteTimeout == 0 || opts.WriteTimeout > 2*time.Second {
		opts.WriteTimeout = 500 * time.Millisecond
	}
	opts.MaxRetries = 1
	client := redis.NewClient(opts)
	return &Redis{Client: client, Prefix: prefix, pubsub: map[string]*redisSub{}}, nil
}

func wrapRedis(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, redis.Nil) {
		return ErrNotFound
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
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
	ok, err := r.Client.SetNX(ctx, r.Prefix+key, value, ttl).Result()
	return ok, wrapRedis(err)
}

// Delete implements Store.
func (r *Redis) Delete(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	full := make([]string, len(keys))
	for i, k := range keys {
		full[i] = r.Prefix + k
	}
	return wrapRedis(r.Client.Del(ctx, full...).Err())
}

// IndexAdd implements Store.
func (r *Redis) IndexAdd(ctx context.Context, index, member string, score int64, ttl time.Duration) error {
	k := r.Prefix + index
	_, err := r.Client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.ZAdd(ctx, k, redis.Z{Score: float64(score), Member: member})
		if ttl > 0 {
			p.Expire(ctx, k, ttl)
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

// Keys implements Store with SCAN (never KEYS).
func (r *Redis) Keys(ctx context.Context, prefix string) ([]string, error) {
	var out []string
	iter := r.Client.Scan(ctx, 0, r.Prefix+prefix+"*", 500).Iterator()
	for iter.Next(ctx) {
		out = append(out, strings.TrimPrefix(iter.Val(), r.Prefix))
	}
	return out, wrapRedis(iter.Err())
}

// Publish implements Store.
func (r *Redis) Publish(ctx context.Context, channel, msg string) error {
	return wrapRedis(r.Client.Publish(ctx, r.Prefix+channel, msg).Err())
}

// Subscribe implements Store. go-redis re-subscribes by itself after a
// reconnect.
func (r *Redis) Subscribe(channel string, fn func(msg string)) func() {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.pubsub[channel]
	if s == nil {
		ps := r.Client.Subscribe(context.Background(), r.Prefix+channel)
		s = &redisSub{ps: ps, fns: map[int]func(string){}}
		r.pubsub[channel] = s
		go r.dispatch(channel, s)
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

func (r *Redis) dispatch(_ string, s *redisSub) {
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
		return NewRedis(cfg.URL)
	default:
		return nil, fmt.Errorf("unknown store kind %q", cfg.Kind)
	}
}

var _ Store = (*Redis)(nil)
