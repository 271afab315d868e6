package store

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultTimeout bounds every Redis dial, read, write and pool wait unless
// the URL's "timeout" (or go-redis's dial_timeout, read_timeout,
// write_timeout, pool_timeout) query options say otherwise. A request that
// needs the store therefore waits at most about this long when Redis is
// down or slow.
const DefaultTimeout = 500 * time.Millisecond

// Startup modes for the "startup" query option.
const (
	// StartupDegraded (the default) starts even when Redis does not answer
	// at provision: one warning is logged, requests that need the store
	// get 503 until Redis answers, and recovery is automatic.
	StartupDegraded = "degraded"
	// StartupRequire fails provisioning (a clear config error) when Redis
	// does not answer a PING within the timeout.
	StartupRequire = "require"
)

// redisMode tells which go-redis client a URL asks for.
type redisMode int

const (
	modeSingle redisMode = iota
	modeSentinel
	modeCluster
)

// redisSettings is a parsed Redis store URL.
type redisSettings struct {
	mode     redisMode
	single   *redis.Options
	failover *redis.FailoverOptions
	cluster  *redis.ClusterOptions
	prefix   string
	timeout  time.Duration
	startup  string

	// PEM files for rediss: the CA that signed the server's certificate
	// (default: the system roots) and a client certificate and key.
	caFile, certFile, keyFile string
}

// tlsConfig returns the TLS config of the client the settings describe,
// or nil for plain TCP.
func (s *redisSettings) tlsConfig() *tls.Config {
	switch s.mode {
	case modeSentinel:
		return s.failover.TLSConfig
	case modeCluster:
		return s.cluster.TLSConfig
	default:
		return s.single.TLSConfig
	}
}

// loadTLSFiles reads ca_file, cert_file and key_file into the TLS config.
// It runs when the store opens, not when a config is adapted, so a config
// can be adapted on a machine without the files.
func (s *redisSettings) loadTLSFiles() error {
	cfg := s.tlsConfig()
	if cfg == nil {
		return nil
	}
	if s.caFile != "" {
		pem, err := os.ReadFile(s.caFile)
		if err != nil {
			return fmt.Errorf("reading ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("ca_file %s holds no PEM certificate", s.caFile)
		}
		cfg.RootCAs = pool
	}
	if s.certFile != "" {
		cert, err := tls.LoadX509KeyPair(s.certFile, s.keyFile)
		if err != nil {
			return fmt.Errorf("loading cert_file and key_file: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return nil
}

// newClient builds the go-redis client the settings describe. It does not
// connect: go-redis dials lazily.
func (s *redisSettings) newClient() redis.UniversalClient {
	switch s.mode {
	case modeSentinel:
		return redis.NewFailoverClient(s.failover)
	case modeCluster:
		return redis.NewClusterClient(s.cluster)
	default:
		return redis.NewClient(s.single)
	}
}

// parseRedisURL parses a store URL:
//
//	redis://[user:password@]host:port[/db][?options]
//	rediss://…                                   (TLS)
//	redis-sentinel://[user:password@]h1:p1,h2:p2[/db]?master=name[&sentinel_password=…]
//	redis-cluster://[user:password@]h1:p1,h2:p2[?options]
//	rediss-sentinel://…, rediss-cluster://…      (TLS)
//
// Our own query options: prefix (key prefix, default "apigw:"), timeout
// (dial/read/write/pool timeout, default 500ms), startup (degraded or
// require); for TLS: ca_file, cert_file, key_file (PEM); for Sentinel: master (required), sentinel_username,
// sentinel_password. Every other option is go-redis's own (pool_size,
// max_retries, read_timeout, skip_verify, …); unknown ones are an error.
func parseRedisURL(raw string) (*redisSettings, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("not a valid URL: %w", err)
	}
	s := &redisSettings{prefix: DefaultPrefix, timeout: DefaultTimeout, startup: StartupDegraded}
	scheme := u.Scheme
	useTLS := strings.HasPrefix(scheme, "rediss")
	switch scheme {
	case "redis", "rediss":
		s.mode = modeSingle
	case "redis-sentinel", "rediss-sentinel":
		s.mode = modeSentinel
	case "redis-cluster", "rediss-cluster":
		s.mode = modeCluster
	default:
		return nil, fmt.Errorf("unknown scheme %q: use redis://, rediss://, redis-sentinel:// or redis-cluster://", scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("has no host: use %s://host:port", scheme)
	}
	hosts := strings.Split(u.Host, ",")
	for _, h := range hosts {
		if h == "" {
			return nil, fmt.Errorf("empty host in %q", u.Host)
		}
	}
	q := u.Query()
	if q.Has("prefix") {
		s.prefix = q.Get("prefix")
		q.Del("prefix")
	}
	if q.Has("timeout") {
		d, err := time.ParseDuration(q.Get("timeout"))
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("timeout=%q is not a positive duration such as 500ms or 2s", q.Get("timeout"))
		}
		s.timeout = d
		q.Del("timeout")
	}
	if q.Has("startup") {
		s.startup = q.Get("startup")
		q.Del("startup")
		if s.startup != StartupDegraded && s.startup != StartupRequire {
			return nil, fmt.Errorf("startup=%q: use startup=degraded (default) or startup=require", s.startup)
		}
	}
	s.caFile, s.certFile, s.keyFile = q.Get("ca_file"), q.Get("cert_file"), q.Get("key_file")
	q.Del("ca_file")
	q.Del("cert_file")
	q.Del("key_file")
	if (s.caFile != "" || s.certFile != "" || s.keyFile != "") && !useTLS {
		return nil, fmt.Errorf("ca_file, cert_file and key_file need TLS: use rediss:// (or rediss-sentinel://, rediss-cluster://)")
	}
	if (s.certFile == "") != (s.keyFile == "") {
		return nil, fmt.Errorf("cert_file and key_file go together")
	}
	var master, sentUser, sentPass string
	if s.mode == modeSentinel {
		master = q.Get("master")
		if master == "" {
			master = q.Get("master_name")
		}
		q.Del("master")
		q.Del("master_name")
		if master == "" {
			return nil, fmt.Errorf("redis-sentinel URL needs ?master=<name of the monitored master>")
		}
		sentUser, sentPass = q.Get("sentinel_username"), q.Get("sentinel_password")
		q.Del("sentinel_username")
		q.Del("sentinel_password")
	} else {
		for _, k := range []string{"master", "master_name", "sentinel_username", "sentinel_password"} {
			if q.Has(k) {
				return nil, fmt.Errorf("option %s is only for redis-sentinel:// URLs", k)
			}
		}
	}
	if s.mode == modeSingle && len(hosts) > 1 {
		return nil, fmt.Errorf("several hosts need redis-sentinel:// or redis-cluster://")
	}
	for _, h := range hosts[1:] {
		q.Add("addr", h)
	}
	base := url.URL{Scheme: "redis", User: u.User, Host: hosts[0], Path: u.Path, RawQuery: q.Encode()}
	if useTLS {
		base.Scheme = "rediss"
	}
	switch s.mode {
	case modeSingle:
		o, err := redis.ParseURL(base.String())
		if err != nil {
			return nil, err
		}
		tune(q, s.timeout, &o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.PoolTimeout, &o.ContextTimeoutEnabled, &o.MaxRetries)
		s.single = o
	case modeSentinel:
		// ParseFailoverURL takes the userinfo as the Sentinel's
		// credentials; ours are the data nodes' (like redis://), and the
		// Sentinel's come from sentinel_username/sentinel_password.
		bq := base.Query()
		bq.Set("master_name", master)
		base.RawQuery = bq.Encode()
		base.User = nil
		o, err := redis.ParseFailoverURL(base.String())
		if err != nil {
			return nil, err
		}
		if u.User != nil {
			o.Username = u.User.Username()
			o.Password, _ = u.User.Password()
		}
		o.SentinelUsername, o.SentinelPassword = sentUser, sentPass
		tune(q, s.timeout, &o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.PoolTimeout, &o.ContextTimeoutEnabled, &o.MaxRetries)
		s.failover = o
	case modeCluster:
		if p := strings.Trim(u.Path, "/"); p != "" && p != "0" {
			return nil, fmt.Errorf("redis-cluster has only database 0, got /%s", p)
		}
		base.Path = ""
		o, err := redis.ParseClusterURL(base.String())
		if err != nil {
			return nil, err
		}
		tune(q, s.timeout, &o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.PoolTimeout, &o.ContextTimeoutEnabled, &o.MaxRetries)
		s.cluster = o
	}
	return s, nil
}

// tune applies our defaults to the fields of a go-redis option struct:
// every timeout the URL did not set explicitly is d; the context's
// deadline reaches the socket (the limiter's per-decision deadline); one
// retry unless max_retries says otherwise.
func tune(q url.Values, d time.Duration, dial, read, write, pool *time.Duration, ctxTimeout *bool, retries *int) {
	for name, p := range map[string]*time.Duration{"dial_timeout": dial, "read_timeout": read, "write_timeout": write, "pool_timeout": pool} {
		if !q.Has(name) {
			*p = d
		}
	}
	*ctxTimeout = true
	if !q.Has("max_retries") {
		*retries = 1
	}
}

// FromSetting is the one check of a store setting as configured
// ("memory" or a Redis URL, maybe with placeholders): it expands the
// placeholders with expand (ExpandURL) and parses the result (ParseURL),
// returning the Config and the expanded URL. With expand nil (a config
// being adapted, before the environment is known) a setting that holds a
// placeholder is left for the check at provision.
func FromSetting(setting string, expand func(string) string) (Config, string, error) {
	raw := setting
	switch {
	case expand != nil:
		raw = ExpandURL(setting, expand)
	case strings.Contains(setting, "{"):
		return Config{}, setting, nil
	}
	cfg, err := ParseURL(raw)
	return cfg, raw, err
}

// ExpandURL expands placeholders in a store URL with expand (Caddy's
// replacer, for {env.*}). Values expanded inside the user info and the
// query are escaped, so a password from {env.REDIS_PASSWORD} may contain
// any character (@, /, :, %).
func ExpandURL(raw string, expand func(string) string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return expand(raw)
	}
	// The user info ends at the last '@' before the query: an expanded
	// password may itself contain '/', '?' or '@' only after expansion,
	// which happens below, so the raw form is unambiguous.
	authEnd := len(rest)
	if i := strings.IndexByte(rest, '?'); i >= 0 {
		authEnd = i
	}
	var userinfo string
	if at := strings.LastIndexByte(rest[:authEnd], '@'); at >= 0 {
		userinfo, rest = rest[:at], rest[at+1:]
	}
	end := len(rest)
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		end = i
	}
	hostport, tail := rest[:end], rest[end:]
	path, query, hasQuery := strings.Cut(tail, "?")
	var b strings.Builder
	b.WriteString(scheme)
	b.WriteString("://")
	if userinfo != "" {
		user, pass, hasPass := strings.Cut(userinfo, ":")
		b.WriteString(escapeUserinfo(expandEscaped(user, expand)))
		if hasPass {
			b.WriteByte(':')
			b.WriteString(escapeUserinfo(expandEscaped(pass, expand)))
		}
		b.WriteByte('@')
	}
	b.WriteString(expand(hostport))
	b.WriteString(expand(path))
	if hasQuery {
		b.WriteByte('?')
		for i, kv := range strings.Split(query, "&") {
			if i > 0 {
				b.WriteByte('&')
			}
			k, v, hasV := strings.Cut(kv, "=")
			b.WriteString(k)
			if hasV {
				b.WriteByte('=')
				if strings.ContainsRune(v, '{') {
					b.WriteString(url.QueryEscape(expand(v)))
				} else {
					b.WriteString(v)
				}
			}
		}
	}
	return b.String()
}

// expandEscaped expands placeholders in a user-info part; a part without
// placeholders is taken as written (possibly already %-escaped).
func expandEscaped(s string, expand func(string) string) string {
	if !strings.ContainsRune(s, '{') {
		if u, err := url.PathUnescape(s); err == nil {
			return u
		}
		return s
	}
	return expand(s)
}

// escapeUserinfo escapes s for the user or password part of a URL.
func escapeUserinfo(s string) string {
	// url.User's String escapes exactly what RFC 3986 needs.
	return url.User(s).String()
}
