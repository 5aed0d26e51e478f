package rye

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
)

var scenarios = []scenario{
	scenarioOOSOnce, scenarioUnavailable, scenarioUnavailable2, scenarioUpstream2, scenarioInternal1,
	scenarioUnsupported, scenarioBadShipping, scenarioUnknownError, scenarioTimeoutPlaced,
	scenarioTimeoutLost, scenarioStuck, scenarioPlacementFailed, scenarioPlacementUnknown, scenarioExpired,
}

// Payment tokens with a scripted outcome; any other token is charged successfully.
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

// Merchant rules (doc.go): Amazon items belong to the store "amazon". A Shopify variant id
// "<store>/<variant>" belongs to <store>; a variant id without "/" belongs to "shopify".
// A scenario prefix may precede the whole id or the variant part.
const (
	storeAmazon  = "amazon"
	storeShopify = "shopify"
)

func amazonItem(productID string) (store string, sc scenario) {
	return storeAmazon, scenarioPrefix(productID)
}

func shopifyItem(variantID string) (store string, sc scenario) {
	sc = scenarioPrefix(variantID)
	rest := variantID
	if sc != scenarioNone {
		rest = strings.TrimPrefix(variantID, string(sc)+":")
	}
	shop, variant, ok := strings.Cut(rest, "/")
	if !ok || shop == "" {
		return storeShopify, sc
	}
	if sc == scenarioNone {
		sc = scenarioPrefix(variant)
	}
	return shop, sc
}

// priceCents is the deterministic unit price of a product: 500 + fnv32a(id) mod 19501, so
// every price is within $5.00..$200.00 and stable across runs.
func priceCents(productID string) int64 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(productID))
	return 500 + int64(h.Sum32()%19501)
}

// displayUSD formats cents as "$12.34".
func displayUSD(cents int64) string {
	sign := ""
	if cents < 0 {
		sign, cents = "-", -cents
	}
	return fmt.Sprintf("%s$%d.%02d", sign, cents/100, cents%100)
}
