package main

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/orderflow/orderflow/demo"
	"github.com/orderflow/orderflow/idempotency"
	"github.com/orderflow/orderflow/provider"
	"github.com/orderflow/orderflow/provider/rye"
	"github.com/orderflow/orderflow/schemas"
)

// bareResult is the minimal work per order done by a plain loop: no Kafka, no roles.
type bareResult struct {
	done        []time.Time
	elapsed     time.Duration
	redisTrips  int64
	redisCmds   int64
	handshakes  int64 // round trips setting connections up, not in redisTrips
	concurrency int
}

// bareLoop places n plain Rye orders with the minimal work each needs: the idempotency store's
// two Lua calls (Acquire, then Transition to terminal) on the real store, and Rye's createCart,
// submitCart and checkoutByCartID against the same sandbox through the real Rye client, with
// concurrency orders in flight, over pooled keep-alive connections (as many idle connections
// per host as orders in flight) and a Redis pool of the same size.
func bareLoop(ctx context.Context, st *stack, ryeURL, ryeKey, redisPrefix, idPrefix string, n, concurrency int) (bareResult, error) {
	res := bareResult{concurrency: concurrency}
	rdb, err := st.redisClient(concurrency)
	if err != nil {
		return res, err
	}
	defer rdb.Close()
	hook := &countHook{}
	rdb.AddHook(hook)
	store, err := idempotency.New(rdb, idempotency.Config{Prefix: redisPrefix})
	if err != nil {
		return res, err
	}
	tr := &http.Transport{MaxIdleConns: concurrency, MaxIdleConnsPerHost: concurrency, IdleConnTimeout: 90 * time.Second}
	defer tr.CloseIdleConnections()
	p, err := rye.Descriptor.New(provider.Settings{BaseURL: ryeURL, APIKey: ryeKey,
		HTTPClient: &http.Client{Transport: tr, Timeout: 30 * time.Second}})
	if err != nil {
		return res, err
	}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(concurrency)
	start := time.Now()
	for i := range n {
		g.Go(func() error {
			req := demo.Placed.Build(fmt.Sprintf("%s%06d", idPrefix, i), i)
			if err := placeBare(gctx, store, p, req); err != nil {
				return fmt.Errorf("bare order %s: %w", req.OrderID, err)
			}
			mu.Lock()
			res.done = append(res.done, time.Now())
			mu.Unlock()
			return nil
		})
	}
	err = g.Wait()
	res.elapsed = time.Since(start)
	res.redisTrips, res.redisCmds, res.handshakes = hook.trips.Load(), hook.cmds.Load(), hook.handshakes.Load()
	return res, err
}

func placeBare(ctx context.Context, store *idempotency.Store, p provider.Provider, o schemas.OrderRequested) error {
	rec, err := store.Acquire(ctx, o.OrderID, o.Attempt, "bench-fingerprint", "bench-bare")
	if err != nil {
		return err
	}
	ref := fmt.Sprintf("%s/%d", o.OrderID, o.Attempt)
	b := o.Buyer
	buyer := provider.Buyer{FirstName: b.FirstName, LastName: b.LastName, Email: b.Email, Phone: b.Phone, Address1: b.Address1,
		Address2: b.Address2, City: b.City, ProvinceCode: b.ProvinceCode, PostalCode: b.PostalCode, CountryCode: b.CountryCode}
	items := make([]provider.Item, len(o.Items))
	for i, it := range o.Items {
		items[i] = provider.Item{Merchant: it.Merchant, ProductID: it.ProductID, Quantity: it.Quantity, PriceCents: it.PriceCents}
	}
	cart, err := p.CreateCart(ctx, provider.CartRequest{OrderRef: ref, Buyer: buyer, Items: items, Currency: o.Currency,
		PaymentRef: o.PaymentRef, ShopperIP: o.ShopperIP})
	if err != nil {
		return err
	}
	if _, err := p.Submit(ctx, provider.SubmitRequest{CartID: cart.ID, OrderRef: ref, ShopperIP: o.ShopperIP,
		PaymentRef: o.PaymentRef, Billing: &buyer}); err != nil {
		return err
	}
	if _, err := p.Status(ctx, cart.ID); err != nil {
		return err
	}
	_, err = store.Transition(ctx, rec, idempotency.StateTerminal, idempotency.Change{CartID: cart.ID, Outcome: "placed"},
		idempotency.StateReserved)
	return err
}

// countHook counts the bare loop's Redis round trips and commands, and apart the round trips
// that set connections up, as orderflow's own hook does (service/redismetrics.go).
type countHook struct{ trips, cmds, handshakes atomic.Int64 }

func (h *countHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *countHook) count(first redis.Cmder, n int) {
	switch first.Name() {
	case "hello", "auth", "client", "select", "readonly":
		h.handshakes.Add(1)
		return
	}
	h.trips.Add(1)
	h.cmds.Add(int64(n))
}

func (h *countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.count(cmd, 1)
		return next(ctx, cmd)
	}
}

func (h *countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(cmds) > 0 {
			h.count(cmds[0], len(cmds))
		}
		return next(ctx, cmds)
	}
}
