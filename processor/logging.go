package processor

import (
	"context"
	"log/slog"

	"github.com/orderflow/orderflow/producer"
	"github.com/orderflow/orderflow/provider"
	"github.com/orderflow/orderflow/schemas"
)

// The log lines an on-call greps for, keyed by order_id. They never carry personal data or
// secrets: no buyer (name, e-mail, address, phone), no payment reference and no provider
// message, which may echo what the provider refused (real Rye and Digital River validation
// messages can quote the address or e-mail). The class, code and action say what happened; the
// failure event and the dead letter hold the message.
const (
	msgProviderFailed = "provider call failed"
	msgDeadLettered   = "order dead-lettered"
	msgNeedsAttention = "order needs attention"
)

// providerFailed logs one failed provider call, where its answer is classified (once per call:
// the worker's createCart and submit, the tracker's status poll and resubmit). Failures a
// person must look at (not retryable, retryability unknown) are warnings; the others, which
// orderflow handles itself (retries, polling, rate limits), are info.
func (c *Config) providerFailed(req schemas.OrderRequested, operation, cartID string, pe *provider.Error) {
	level := slog.LevelInfo
	if pe.Class == provider.ClassNotRetryable || pe.Class == provider.ClassUnknownRetryability {
		level = slog.LevelWarn
	}
	attrs := []slog.Attr{
		slog.String("order_id", req.OrderID), slog.Int("attempt", req.Attempt), slog.String("provider", req.Provider),
		slog.String("operation", operation), slog.String("call", pe.Op), slog.String("class", pe.Class.String()),
		slog.String("code", pe.Code), slog.String("action", string(pe.Action)), slog.String("cart_id", cartID),
	}
	if pe.HTTPStatus != 0 {
		attrs = append(attrs, slog.Int("http_status", pe.HTTPStatus))
	}
	if pe.Retryable != nil {
		attrs = append(attrs, slog.Bool("retryable", *pe.Retryable))
	}
	if pe.RequestID != "" {
		attrs = append(attrs, slog.String("request_id", pe.RequestID))
	}
	c.Logger.LogAttrs(context.Background(), level, msgProviderFailed, attrs...)
}

// operationOf is the provider operation (provider.Op*, the metrics' operation label) of a worker phase.
func operationOf(phase string) string {
	if phase == PhaseCart {
		return provider.OpCreateCart
	}
	return provider.OpSubmit
}

// logOutcomes logs the terminal statuses among msgs, which the producer acknowledged: one line
// per merchant order dead-lettered (info) or needing attention (warn). A redelivery that
// re-emits a stored outcome logs it again, as downstream sees it again.
func (c *Config) logOutcomes(msgs []producer.Message) {
	for _, m := range msgs {
		st, ok := m.Value.(schemas.OrderStatus)
		if !ok || !st.Terminal {
			continue
		}
		var level slog.Level
		var msg string
		switch Status(st.State) {
		case StatusDeadLettered:
			level, msg = slog.LevelInfo, msgDeadLettered
		case StatusNeedsAttention:
			level, msg = slog.LevelWarn, msgNeedsAttention
		default:
			continue
		}
		c.Logger.LogAttrs(context.Background(), level, msg,
			slog.String("order_id", st.OrderID), slog.Int("attempt", st.Attempt), slog.String("provider", st.Provider),
			slog.String("merchant", st.Merchant), slog.String("merchant_order_id", st.MerchantOrderID),
			slog.String("cart_id", st.CartID), slog.String("code", st.Code), slog.String("action", st.Action))
	}
}
