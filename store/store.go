// Package store is caddy-apigw's one home for shared state: runtime API
// keys, revocations, sessions, the signature replay cache and rate-limit
// counters. Memory is the default (one machine, zero setup); Redis lets
// several Caddy instances share one truth.
//
// Every key written through a Store carries a TTL (or is removed
// explicitly), so nothing lives forever. Keys are namespaced by the caller
// ("sess:", "key:", "jti:", "sig:", "rl:"); the Redis implementation adds
// its configured prefix in front.
package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"
)

// ErrNotFound is returned by Get when the key does not exist or expired.
var ErrNotFound = errors.New("store: not found")

// Backend failures (Redis down, timeout) wrap failure.ErrUnavailable:
// callers map it to 503 service_unavailable or to their declared fail-open
// behaviour.

// Store is the state backend shared by every caddy-apigw module.
type Store interface {
	// Get returns the value of key, or ErrNotFound.
	Get(ctx context.Context, key string) ([]byte, error)
	// Set stores value under key; ttl <= 0 means no expiry (use sparingly:
	// only for state an operator removes explicitly, like runtime API keys).
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// SetNX stores value only if key does not exist; it reports whether it
	// stored. Used for the once-only signature cache.
	SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error)
	// Delete removes keys; missing keys are not an error.
	Delete(ctx context.Context, keys ...string) error

	// IndexAdd adds member with score to the sorted index (e.g. the
	// sessions of one user, scored by creation time) and sets the index's
	// TTL to ttl if ttl > 0.
	IndexAdd(ctx context.Context, index, member string, score int64, ttl time.Duration) error
	// IndexMembers returns the members of index in ascending score order.
	IndexMembers(ctx context.Context, index string) ([]string, error)
	// IndexRemove removes members from index.
	IndexRemove(ctx context.Context, index string, members ...string) error
	// Keys returns the keys (without the store's own prefix) that start
	// with prefix. It is for admin listings, never for a request path.
	Keys(ctx context.Context, prefix string) ([]string, error)

	// Publish sends msg to every subscriber of channel on every instance
	// sharing this store (used to drop local caches on revocation).
	Publish(ctx context.Context, channel, msg string) error
	// Subscribe calls fn for every message on channel until the returned
	// function is called.
	Subscribe(channel string, fn func(msg string)) (unsubscribe func())

	// Kind is "memory" or "redis".
	Kind() string
	// Close releases the backend's resources.
	Close() error
}

// Config selects and configures a Store. It is parsed from a URL:
// "memory", or one of
//
//	redis://[user:password@]host:port[/db][?options]
//	rediss://…                                (TLS; skip_verify=true for tests only)
//	redis-sentinel://[user:password@]h1:p1,h2:p2[/db]?master=<name>[&sentinel_password=…]
//	redis-cluster://[user:password@]h1:p1,h2:p2[?options]
//	rediss-sentinel://…, rediss-cluster://…   (TLS)
//
// user:password are the data nodes' ACL credentials. Options: prefix (key
// prefix, default "apigw:"), timeout (dial/read/write/pool timeout,
// default 500ms), startup (degraded, the default, or require), ca_file,
// cert_file and key_file (PEM files for TLS: a private CA, a client
// certificate), and go-redis's own (pool_size, max_retries, …).
type Config struct {
	// Kind is "memory" or "redis".
	Kind string
	// URL is the Redis URL (for Kind "redis"), placeholders expanded.
	URL string
	// Logger receives the store's outage warnings; nil discards them.
	Logger *zap.Logger
	// Observer receives operation latencies and health changes; may be nil.
	Observer Observer
}

// ParseURL validates a store URL and returns its Config. An empty string
// means memory. Redis URLs are parsed completely (hosts, options), so a
// mistake is reported here, at config load, not at the first request.
func ParseURL(s string) (Config, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "memory" || s == "memory://" {
		return Config{Kind: "memory"}, nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return Config{}, fmt.Errorf("store %q is not a valid URL: %w; use \"memory\" or redis://host:port/db", redactURL(s), err)
	}
	switch u.Scheme {
	case "redis", "rediss", "redis-sentinel", "rediss-sentinel", "redis-cluster", "rediss-cluster":
		if _, err := parseRedisURL(s); err != nil {
			return Config{}, fmt.Errorf("store URL %q: %w", redactURL(s), err)
		}
		return Config{Kind: "redis", URL: s}, nil
	default:
		return Config{}, fmt.Errorf("unknown store %q: use \"memory\" or a redis://, rediss://, redis-sentinel:// or redis-cluster:// URL", redactURL(s))
	}
}

// redactURL hides the password of a URL for error messages and logs.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		if i := strings.LastIndex(s, "@"); i >= 0 {
			return "***" + s[i:]
		}
		return s
	}
	return u.Redacted()
}

// RedactURL hides any password in a store URL, for logs.
func RedactURL(s string) string { return redactURL(s) }
