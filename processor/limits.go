package processor

import (
	"errors"
	"fmt"
	"math"

	"github.com/orderflow/orderflow/schemas"
)

// Limits bound what one order request may ask for. The worker checks them before anything is
// reserved or created at a provider: a request over a limit is dead-lettered with action
// fix-input (rule request-limit, code limit-exceeded) and nothing is charged. A zero field
// takes its default; a negative one is refused by Settings.Validate. Amounts are in the currency's
// minor units whatever the currency, so set them for the currencies you sell in.
type Limits struct {
	// MaxRequestBytes bounds the encoded request (the record's value). Default 256 KiB: every
	// record derived from a request (tracking, failure, dead letter) carries it, a failure
	// event twice, and must fit its topic (Kafka's default limit is 1 MiB). Independently of
	// it, a request whose derived records would not fit their topics is refused too.
	MaxRequestBytes int
	// MaxItems bounds the lines of one order. Default 100.
	MaxItems int
	// MaxQuantity bounds the quantity of one line. Default 1,000.
	MaxQuantity int
	// MaxLineCents bounds price_cents × quantity of one line. Default 5,000,000 (50,000.00).
	MaxLineCents int64
	// MaxOrderCents bounds the sum of the lines. Default 10,000,000 (100,000.00).
	MaxOrderCents int64
}

// DefaultLimits are the limits a zero Limits field takes.
var DefaultLimits = Limits{MaxRequestBytes: 256 << 10, MaxItems: 100, MaxQuantity: 1000, MaxLineCents: 5_000_000, MaxOrderCents: 10_000_000}

// setDefaults fills zero fields from DefaultLimits.
func (l *Limits) setDefaults() {
	if l.MaxRequestBytes == 0 {
		l.MaxRequestBytes = DefaultLimits.MaxRequestBytes
	}
	if l.MaxItems == 0 {
		l.MaxItems = DefaultLimits.MaxItems
	}
	if l.MaxQuantity == 0 {
		l.MaxQuantity = DefaultLimits.MaxQuantity
	}
	if l.MaxLineCents == 0 {
		l.MaxLineCents = DefaultLimits.MaxLineCents
	}
	if l.MaxOrderCents == 0 {
		l.MaxOrderCents = DefaultLimits.MaxOrderCents
	}
}

// Validate refuses negative limits.
func (l Limits) Validate() error {
	if l.MaxRequestBytes < 0 || l.MaxItems < 0 || l.MaxQuantity < 0 || l.MaxLineCents < 0 || l.MaxOrderCents < 0 {
		return fmt.Errorf("processor: limits must not be negative: %+v", l)
	}
	return nil
}

// LimitError is a request over one of the Limits.
type LimitError struct {
	Limit string // request-bytes, items, quantity, line-amount, order-amount, record-bytes
	Item  int    // the line's index, -1 for the whole order
	Value int64  // what the request asks; math.MaxInt64 when the amount overflows
	Max   int64
	// Topic names the topic a derived record would not fit (Limit record-bytes).
	Topic string
}

func (e *LimitError) Error() string {
	value := fmt.Sprint(e.Value)
	if e.Value == math.MaxInt64 {
		value = "beyond 2^63-1"
	}
	what := map[string]string{
		"request-bytes": "request size %s bytes", "items": "item count %s", "quantity": "quantity %s",
		"line-amount": "line amount (price_cents × quantity) %s", "order-amount": "order amount %s",
		"record-bytes": "derived record of %s bytes",
	}[e.Limit]
	if what == "" {
		what = e.Limit + " %s"
	}
	s := fmt.Sprintf(what+" is over the limit of %d", value, e.Max)
	if e.Topic != "" {
		s += " of topic " + e.Topic
	}
	if e.Item >= 0 {
		s = fmt.Sprintf("item %d: %s", e.Item, s)
	}
	return s
}

// Check reports the first limit req exceeds; size is its encoded size (the record's value).
// Quantities and prices must be positive and non-negative; amounts are computed without overflow.
func (l Limits) Check(req schemas.OrderRequested, size int) error {
	l.setDefaults()
	if size > l.MaxRequestBytes {
		return &LimitError{Limit: "request-bytes", Item: -1, Value: int64(size), Max: int64(l.MaxRequestBytes)}
	}
	if len(req.Items) > l.MaxItems {
		return &LimitError{Limit: "items", Item: -1, Value: int64(len(req.Items)), Max: int64(l.MaxItems)}
	}
	var total int64
	for i, it := range req.Items {
		if it.Quantity > l.MaxQuantity {
			return &LimitError{Limit: "quantity", Item: i, Value: int64(it.Quantity), Max: int64(l.MaxQuantity)}
		}
		if it.PriceCents < 0 {
			return fmt.Errorf("item %d: price_cents %d must not be negative", i, it.PriceCents)
		}
		line, ok := mul(it.PriceCents, int64(it.Quantity))
		if !ok || line > l.MaxLineCents {
			if !ok {
				line = math.MaxInt64
			}
			return &LimitError{Limit: "line-amount", Item: i, Value: line, Max: l.MaxLineCents}
		}
		if line > l.MaxOrderCents-total { // total <= MaxOrderCents here: no overflow
			sum := int64(math.MaxInt64)
			if total <= math.MaxInt64-line {
				sum = total + line
			}
			return &LimitError{Limit: "order-amount", Item: -1, Value: sum, Max: l.MaxOrderCents}
		}
		total += line
	}
	return nil
}

// mul is a×b for non-negative a and b, and false when it overflows int64.
func mul(a, b int64) (int64, bool) {
	if a < 0 || b < 0 {
		return 0, false
	}
	if a != 0 && b > math.MaxInt64/a {
		return 0, false
	}
	return a * b, true
}

// IsLimit reports whether err is a LimitError.
func IsLimit(err error) bool {
	var le *LimitError
	return errors.As(err, &le)
}
