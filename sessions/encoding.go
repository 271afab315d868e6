package sessions

import (
	"encoding/binary"
	"time"
)

// encode serializes a session's stored fields: version, created,
// last-seen, expires, user and metadata. A compact binary form keeps
// lookups cheap.
func encode(s *Session) []byte {
	n := 1 + 3*binary.MaxVarintLen64 + binary.MaxVarintLen64 + len(s.User) + binary.MaxVarintLen64
	for k, v := range s.Meta {
		n += 2*binary.MaxVarintLen64 + len(k) + len(v)
	}
	b := make([]byte, 0, n)
	b = append(b, 1)
	b = binary.AppendVarint(b, s.Created.UnixNano())
	b = binary.AppendVarint(b, s.LastSeen.UnixNano())
	b = binary.AppendVarint(b, s.Expires.UnixNano())
	b = appendBytes(b, s.User)
	b = binary.AppendUvarint(b, uint64(len(s.Meta)))
	for k, v := range s.Meta {
		b = appendBytes(b, k)
		b = appendBytes(b, v)
	}
	return b
}

func appendBytes(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decode parses encode's output into s (all fields but ID); it reports
// false for anything malformed.
func decode(b []byte, s *Session) bool {
	if len(b) == 0 || b[0] != 1 {
		return false
	}
	b = b[1:]
	var ts [3]int64
	for i := range ts {
		v, n := binary.Varint(b)
		if n <= 0 {
			return false
		}
		ts[i], b = v, b[n:]
	}
	user, b, ok := readBytes(b)
	if !ok || user == "" {
		return false
	}
	cnt, n := binary.Uvarint(b)
	if n <= 0 || cnt > uint64(len(b)) {
		return false
	}
	b = b[n:]
	s.User = user
	s.Created, s.LastSeen, s.Expires = time.Unix(0, ts[0]), time.Unix(0, ts[1]), time.Unix(0, ts[2])
	s.Meta = nil
	if cnt > 0 {
		s.Meta = make(map[string]string, cnt)
		for i := uint64(0); i < cnt; i++ {
			var k, v string
			if k, b, ok = readBytes(b); !ok {
				return false
			}
			if v, b, ok = readBytes(b); !ok {
				return false
			}
			s.Meta[k] = v
		}
	}
	return len(b) == 0
}

func readBytes(b []byte) (string, []byte, bool) {
	l, n := binary.Uvarint(b)
	if n <= 0 || l > uint64(len(b)-n) {
		return "", nil, false
	}
	b = b[n:]
	return string(b[:l]), b[l:], true
}
