package sessions

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Defaults of Config.
const (
	DefaultCookieName  = "apigw_session"
	DefaultIdleTimeout = 30 * time.Minute
	DefaultLifetime    = 12 * time.Hour
	DefaultMaxPerUser  = 10
	DefaultSameSite    = "lax"
)

// HostPrefix is the cookie name prefix that makes browsers refuse the
// cookie unless it is Secure, has Path=/ and no Domain (RFC 6265bis): a
// sibling subdomain cannot plant or overwrite it.
const HostPrefix = "__Host-"

// Config configures a Manager. The zero value of every field means its
// default.
type Config struct {
	// CookieName is the session cookie's name (default apigw_session).
	// With HostPrefix the name sent is "__Host-" + CookieName.
	CookieName string
	// IdleTimeout ends a session that was not used for this long
	// (default 30m). Last-seen is written at most once per
	// IdleTimeout/20 (at most once a minute), so the effective idle
	// timeout is between 95% and 100% of the value.
	IdleTimeout time.Duration
	// Lifetime ends a session this long after login, however active
	// (default 12h).
	Lifetime time.Duration
	// MaxPerUser caps the live sessions of one user; a login beyond it
	// ends the user's oldest session (default 10).
	MaxPerUser int
	// HostPrefix names the cookie "__Host-<CookieName>" (default false).
	// Browsers accept such a cookie only over HTTPS, so enable it only
	// for sites served over HTTPS.
	HostPrefix bool
	// SameSite is the cookie's SameSite attribute: "lax" (default) or
	// "strict".
	SameSite string

	now func() time.Time // tests
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.CookieName == "" {
		c.CookieName = DefaultCookieName
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.Lifetime <= 0 {
		c.Lifetime = DefaultLifetime
	}
	if c.MaxPerUser <= 0 {
		c.MaxPerUser = DefaultMaxPerUser
	}
	c.SameSite = strings.ToLower(c.SameSite)
	if c.SameSite == "" {
		c.SameSite = DefaultSameSite
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c
}

// Validate reports a configuration mistake, naming the option and the fix.
func (c Config) Validate() error {
	if c.CookieName != "" && !validCookieName(c.CookieName) {
		return fmt.Errorf("session cookie name %q is not a valid cookie name: use letters, digits, '_' or '-'", c.CookieName)
	}
	if strings.HasPrefix(c.CookieName, "__") {
		return fmt.Errorf("session cookie name %q must not start with \"__\": use host_prefix to get the __Host- prefix", c.CookieName)
	}
	if c.IdleTimeout < 0 || c.Lifetime < 0 {
		return errors.New("session idle_timeout and lifetime must be positive durations")
	}
	if c.IdleTimeout > 0 && c.Lifetime > 0 && c.IdleTimeout > c.Lifetime {
		return fmt.Errorf("session idle_timeout %s is longer than lifetime %s: lower idle_timeout or raise lifetime", c.IdleTimeout, c.Lifetime)
	}
	if c.MaxPerUser < 0 {
		return errors.New("session max_per_user must be a positive number")
	}
	switch strings.ToLower(c.SameSite) {
	case "", "lax", "strict":
	default:
		return fmt.Errorf("session same_site %q is not supported: use lax or strict (None would send the cookie on cross-site requests)", c.SameSite)
	}
	return nil
}

func validCookieName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return s != ""
}
