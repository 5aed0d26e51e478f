package processor

import (
	"testing"
	"time"

	"github.com/orderflow/orderflow/provider"
)

// TestRoundTripsPerPlacedOrder counts the store's Redis round trips of a plain order placed at
// its first poll: the worker's and the tracker's together (the rate limiter's are its own).
const maxTripsPerPlacedOrder = 5

func TestRoundTripsPerPlacedOrder(t *testing.T) {
	h := newHarness(t, func(time.Duration) (provider.Placement, error) {
		return one(provider.OrderPlacement{Merchant: "amazon", OrderID: "ord-1", Events: placedEvents()}), nil
	}, nil)
	h.run(testRequest("o-warm-up"), time.Minute) // loads the scripts (the first EVALSHA of each is answered NOSCRIPT)
	h.trips.take()
	h.run(testRequest("o-trips"), time.Minute)
	if got := h.states(); len(got) == 0 || got[len(got)-1] != "1//placed" {
		t.Fatalf("states %v: want the order placed", got)
	}
	// Worker: Acquire, BeginSubmitCart, HandToTracker; tracker: the poll's Get, FinishChain.
	if n, by := h.trips.take(); n > maxTripsPerPlacedOrder {
		t.Fatalf("%d round trips (%v), want at most %d", n, by, maxTripsPerPlacedOrder)
	}
}
