package ryefake

import (
	"fmt"
	"hash/fnv"
	"strings"
)

// scenario is a deterministic behaviour selected by a "<scenario>:" prefix on a product id.
// The table in doc.go is the contract; keep both in sync.
type scenario string

const (
	scenarioNone             scenario = ""
	scenarioOOSOnce          scenario = "oos-once"
	scenarioUnavailable      scenario = "unavailable"
	scenarioUnavailable2     scenario = "unavailable-2"
	scenarioUpstream2        scenario = "upstream-2"
	scenarioInternal1        scenario = "internal-1"
	scenarioUnsupported      scenario = "unsupported"
	scenarioBadShipping      scenario = "bad-shipping"
	scenarioUnknownError     scenario = "unknown-error"
	scenarioTimeoutPlaced    scenario = "timeout-placed"
	scenarioTimeoutLost      scenario = "timeout-lost"
	scenarioStuck            scenario = "stuck"
	scenarioPlacementFailed  scenario = "placement-failed"
	scenarioPlacementUnknown scenario = "placement-unknown"
	scenarioExpired          scenario = "expired"
	scenarioNoStatus         scenario = "no-status"
	scenario3DSPass          scenario = "3ds-pass"
	scenario3DSFail          scenario = "3ds-fail"
	scenario3DSAbandon       scenario = "3ds-abandon"
	scenarioCancelled        scenario = "cancelled"
	scenarioRefundPartial    scenario = "refund-partial"
	scenarioRootInternal     scenario = "root-internal"

	// Item-level scenarios: they act on the item at createCart and never become a store's scenario.
	scenarioNotFound scenario = "not-found"
	scenarioUnpriced scenario = "unpriced"
)

var scenarios = []scenario{
	scenarioOOSOnce, scenarioUnavailable, scenarioUnavailable2, scenarioUpstream2, scenarioInternal1,
	scenarioUnsupported, scenarioBadShipping, scenarioUnknownError, scenarioTimeoutPlaced,
	scenarioTimeoutLost, scenarioStuck, scenarioPlacementFailed, scenarioPlacementUnknown, scenarioExpired,
	scenarioNoStatus, scenario3DSPass, scenario3DSFail, scenario3DSAbandon, scenarioCancelled,
	scenarioRefundPartial, scenarioRootInternal, scenarioNotFound, scenarioUnpriced,
}

func (s scenario) itemLevel() bool { return s == scenarioNotFound || s == scenarioUnpriced }

// Payment tokens and a postal code with a scripted outcome; any other token is charged successfully.
const (
	tokenDeclined          = "tok_declined"
	tokenInsufficientFunds = "tok_insufficient_funds"
	undeliverablePostal    = "00000"
)

// scenarioPrefix returns the scenario id starts with, if any.
func scenarioPrefix(id string) scenario {
	name, _, ok := strings.Cut(id, ":")
	if !ok {
		return scenarioNone
	}
	for _, s := range scenarios {
		if scenario(name) == s {
			return s
		}
	}
	return scenarioNone
}

// Store model. DOCS (docs.rye.com/api-reference/amazonstore): AmazonStore.store "is always
// equal to amazon", so every Amazon item (amazonCartItemsInput.productId, the ASIN) is in the
// store "amazon". A Shopify item is sent as the plain Shopify variant id (SDK-2024
// ShopifyCartItemsInput.variantId) and real Rye resolves its store itself, which a sandbox
// without a catalogue cannot: the sandbox trigger "<variant>@<store domain>" names the store
// (after the last "@"), and any other variant id is in Config.DefaultShopifyStore. Cart lines
// report the id exactly as sent, "@<store domain>" included.
const storeAmazon = "amazon"

type marketplace string

const (
	marketplaceAmazon  marketplace = "AMAZON"
	marketplaceShopify marketplace = "SHOPIFY"
)

// shopifyStoreOf returns the store of a Shopify variant id.
func shopifyStoreOf(variantID, defaultStore string) string {
	if i := strings.LastIndex(variantID, "@"); i >= 0 && i+1 < len(variantID) {
		return variantID[i+1:]
	}
	return defaultStore
}

// priceCents is the deterministic unit price of a product: 500 + fnv32a(id) mod 19501, so
// every price is within $5.00..$200.00 and stable across runs. Price.value is in the
// currency's minor unit: "for USD a multiplied by 100" (SDK-2024).
func priceCents(productID string) int64 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(productID))
	return 500 + int64(h.Sum32()%19501)
}

// displayUSD formats cents as "$12.34" (Price.displayValue).
func displayUSD(cents int64) string {
	sign := ""
	if cents < 0 {
		sign, cents = "-", -cents
	}
	return fmt.Sprintf("%s$%d.%02d", sign, cents/100, cents%100)
}

// decimalUSD formats cents as "12.34" (ShopifyVariant.price, a string in SDK-2024).
func decimalUSD(cents int64) string {
	return fmt.Sprintf("%d.%02d", cents/100, cents%100)
}
