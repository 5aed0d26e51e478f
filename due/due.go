// Package due is the record header that holds a record back until a time: a producer sets it
// (producer.Message.Due) and the consumer engine keeps a record carrying it from the handler,
// its partition paused, until then. Delay-tier retry topics and the tracker's polling schedule
// are built on it.
package due

import (
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Header names the record header holding the earliest time (unix ms, decimal) at which a
// handler may see the record.
const Header = "orderflow-due-ms"

// At returns the header that makes a record due at t (to the millisecond).
func At(t time.Time) kgo.RecordHeader {
	return kgo.RecordHeader{Key: Header, Value: []byte(strconv.FormatInt(t.UnixMilli(), 10))}
}

// Of returns the time r is due: that of its first readable Header, the zero time when it has
// none (due at once).
func Of(r *kgo.Record) time.Time {
	for _, h := range r.Headers {
		if h.Key == Header {
			if ms, err := strconv.ParseInt(string(h.Value), 10, 64); err == nil {
				return time.UnixMilli(ms)
			}
		}
	}
	return time.Time{}
}
