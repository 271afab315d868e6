package limiter

import (
	"context"
	"fmt"
	"math"
	"time"
)

// Calendar quotas: a fixed count per calendar day or month in UTC (rate
// "10000/calendar_day", "1000000/calendar_month"), the quota model of API
// plans ("10,000 requests a day"). The whole quota comes back at 00:00
// UTC of the next day or month; within the period nothing refills. Unlike
// rolling windows, the period boundaries are the same for every key.

// Calendar names the calendar period of a Rate; zero means a rolling
// window.
type Calendar uint8

// The calendar periods.
const (
	// Rolling is a rolling window of Rate.Window (GCRA or sliding window).
	Rolling Calendar = iota
	// CalendarDay counts per UTC day.
	CalendarDay
	// CalendarMonth counts per UTC calendar month.
	CalendarMonth
)

// The window names of ParseRate for calendar periods.
const (
	calendarDayName   = "calendar_day"
	calendarMonthName = "calendar_month"
)

// String returns the window name as ParseRate accepts it.
func (c Calendar) String() string {
	switch c {
	case CalendarDay:
		return calendarDayName
	case CalendarMonth:
		return calendarMonthName
	}
	return "rolling"
}

// period returns the index of the calendar period holding now (Unix
// nanoseconds, UTC) and the instant it ends.
func (c Calendar) period(now int64) (idx, end int64) {
	if c == CalendarDay {
		const day = int64(24 * time.Hour)
		idx = now / day
		return idx, (idx + 1) * day
	}
	t := time.Unix(0, now).UTC()
	y, m, _ := t.Date()
	return int64(y)*12 + int64(m) - 1, time.Date(y, m+1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
}

// calEntry is a key's count in its period: 16 bytes.
type calEntry struct {
	end   int64 // Unix ns at which the period (and the count) ends
	count uint32
}

func (e calEntry) idleAt(int64) int64 { return e.end }

// CalendarMemory is an in-process calendar quota table with the same
// sharding, bounds, sweeping and eviction as Memory.
type CalendarMemory struct {
	policy Policy
	l      int64
	table[calEntry]
}

// NewCalendarMemory returns an empty calendar quota table for policy (a
// Rate with a Calendar period). Call Close to stop its janitor.
func NewCalendarMemory(policy Policy, opts MemoryOptions) (*CalendarMemory, error) {
	if err := policy.Validate(); err != nil {
		return nil, err
	}
	if policy.Rate.Calendar == Rolling {
		return nil, fmt.Errorf("NewCalendarMemory: rate %s has no calendar period", policy.Rate)
	}
	m := &CalendarMemory{policy: policy, l: policy.Rate.Events}
	m.init(opts, 0)
	return m, nil
}

// Policy returns the table's policy.
func (m *CalendarMemory) Policy() Policy { return m.policy }

// Take implements Limiter. It never fails.
func (m *CalendarMemory) Take(_ context.Context, key string) (Result, error) {
	h, s := m.shards.StringShard(key)
	now := m.now()
	_, end := m.policy.Rate.Calendar.period(now)
	s.Lock()
	e, ok := s.M[h]
	if !ok || e.end != end {
		e = calEntry{end: end}
	}
	left := time.Duration(end - now)
	if int64(e.count) >= m.l {
		s.Unlock()
		return Result{Allowed: false, RetryAfter: left, Reset: left}, nil
	}
	if !ok && m.shards.Full(s) {
		m.evict(s, now)
	}
	e.count++
	s.M[h] = e
	s.Unlock()
	return Result{Allowed: true, Remaining: m.l - int64(e.count), Reset: left}, nil
}

// Refund implements Limiter: one event back in the current period (an
// event of a past period no longer counts).
func (m *CalendarMemory) Refund(_ context.Context, key string) error {
	h, s := m.shards.StringShard(key)
	_, end := m.policy.Rate.Calendar.period(m.now())
	s.Lock()
	if e, ok := s.M[h]; ok && e.end == end {
		if e.count <= 1 {
			delete(s.M, h)
		} else {
			e.count--
			s.M[h] = e
		}
	}
	s.Unlock()
	return nil
}

var _ MemoryTable = (*CalendarMemory)(nil)

// validateCalendar checks a calendar policy.
func (p Policy) validateCalendar() error {
	if p.Algorithm != GCRA {
		return fmt.Errorf("rate %s counts per calendar period: leave algorithm out", p.Rate)
	}
	if p.Burst != p.Rate.Events {
		return fmt.Errorf("rate %s has no burst: burst %d must equal the rate's events %d (remove burst)", p.Rate, p.Burst, p.Rate.Events)
	}
	if p.Rate.Events > math.MaxUint32 {
		return fmt.Errorf("a calendar quota supports at most %d events", uint64(math.MaxUint32))
	}
	return nil
}

// calendarScript is the calendar quota for one key, atomic on the Redis
// server and on its clock (TIME). The period is computed in the script:
// the UTC day (seconds / 86400), or the UTC month from the civil date of
// the day (Howard Hinnant's days-to-civil algorithm, as Go's time package
// computes it). The key is a hash of the period's end e (µs) and the
// count c; it expires at the period's end.
//
// KEYS[1] the key; ARGV[1] "day" or "month"; ARGV[2] limit (events);
// ARGV[3] "take" or "refund".
// Returns {allowed, remaining, retry_after_us, reset_us}.
const calendarLua = `
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local sec = tonumber(t[1])
local now = sec * 1000000 + tonumber(t[2])
local days = math.floor(sec / 86400)
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local mp = m + 9
  if m > 2 then mp = m - 3 end
  local doy = math.floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end
local endd = days + 1
if ARGV[1] == 'month' then
  local z = days + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local y = yoe + era * 400
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local m = mp + 3
  if mp >= 10 then m = mp - 9 end
  if m <= 2 then y = y + 1 end
  m = m + 1
  if m > 12 then m = 1; y = y + 1 end
  endd = days_from_civil(y, m, 1)
end
local e = endd * 86400 * 1000000
local l = tonumber(ARGV[2])
local v = redis.call('HMGET', KEYS[1], 'e', 'c')
local count = 0
if tonumber(v[1]) == e then count = tonumber(v[2]) or 0 end
if ARGV[3] == 'refund' then
  if count > 1 then
    redis.call('HSET', KEYS[1], 'c', string.format('%.0f', count - 1))
  elseif count == 1 then
    redis.call('DEL', KEYS[1])
  end
  return {1, 0, 0, 0}
end
if count >= l then
  return {0, 0, e - now, e - now}
end
count = count + 1
redis.call('HSET', KEYS[1], 'e', string.format('%.0f', e), 'c', string.format('%.0f', count))
redis.call('PEXPIRE', KEYS[1], math.ceil((e - now) / 1000) + 1000)
return {1, l - count, 0, e - now}
`
