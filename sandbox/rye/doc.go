// Package rye is a faithful local simulator of the Rye checkout API (GraphQL), served by
// graph-gophers/graphql-go from the one schema file schema.graphql, which is also what the
// client in provider/rye is generated from.
//
// # Protocol
//
// POST <base>/v1/query with JSON {query, variables, operationName}.
//   - "Authorization: Basic <Config.APIKey>" is required: otherwise HTTP 401 (no Ratelimit headers,
//     since the request is charged to no key).
//   - "Rye-Shopper-IP" is required on submitCart: otherwise the cart-level error SHOPPER_IP_IS_REQUIRED.
//   - "Orderflow-Order-Ref" on createCart is a sandbox-only correlation header: it is stored on the
//     cart and reported by the ledger. A real Rye ignores it.
//   - Every response carries X-Request-Id. Every authenticated response carries Ratelimit-Limit,
//     Ratelimit-Remaining, Ratelimit-Reset (seconds until a request is allowed again) and
//     Ratelimit-Tier ("strict" for createCart and submitCart, "default" otherwise), per API key;
//     over the limit the answer is HTTP 429 with Retry-After. An unlimited tier (rate 0) reports
//     limit and remaining as 2147483647.
//   - A failed submitCart or createCart carries the retryable flag in the response's top-level
//     extensions: {"data": ..., "extensions": {"retryable": false}} (true, false, or absent).
//     When several stores fail, any false makes it false, else any absent makes it absent.
//     Root GraphQL errors (CART_EXPIRED_ERROR, CART_NOT_FOUND) carry extensions {code, retryable}.
//
// # Model
//
// Merchants: an Amazon item (amazonCartItemsInput.productId) belongs to the store "amazon". A
// Shopify item's variantId "<store>/<variant>" belongs to <store>, e.g.
// "shop-a.myshopify.com/4401"; a variantId without "/" belongs to "shopify". One store is one
// merchant order, so a cart spanning several stores places several orders. Orders exist, with
// status PENDING and no events, from cart creation.
//
// Prices: the unit price of a product id (the full id as sent) is 500 + fnv32a(id) mod 19501
// cents, i.e. $5.00 to $200.00 and stable across runs. Tax and shipping are 0; the currency is USD.
//
// submitCart validates billingAddress (countryCode must have two letters) and accepts and
// ignores selectedShippingOptions (use the bad-shipping trigger for a rejected shipping option).
//
// Submission is all or nothing: checks run in the order fault, shopper IP, cart lookup,
// timeout-lost, ALREADY_SUBMITTED, expiry (Config.CartTTL), cart-level validation
// (CART_IS_EMPTY, BUYER_IDENTITY_MISSING / _INVALID_EMAIL / _INVALID_COUNTRY,
// BILLING_ADDRESS_INVALID_COUNTRY), store checks, payment. Only when every store passes is the
// payment token captured, the cart recorded in the ledger (one entry per cart:
// ledger.Entry{Provider: "rye", CartID, OrderRef, AmountCents, Currency: "USD",
// Charged: token != "", Orders}) and placement queued. submitCart of a submitted cart
// answers ALREADY_SUBMITTED (retryable false).
//
// Placement runs on an accelerated clock of Config.PlacementStep after submission: at +1
// OrderSubmissionStartedOrderEvent (status PROCESSING); at +2 PaymentSucceededOrderEvent (when
// a token was charged) and OrderSubmissionSucceededOrderEvent; at +3 OrderPlacedOrderEvent
// (SUCCEEDED); at +4 TrackingObtainedOrderEvent. A failing order instead gets, at +3,
// OrderFailedOrderEvent {reason, reasonCode, retryable} (FAILED) and, if charged,
// PaymentRefundedOrderEvent. Events are computed from the submission time when queried (no
// goroutine per order); when every order of a cart fails, a timer marks the ledger entry
// refunded at +3 (a partly placed cart keeps its one ledger entry charged). Close stops pending timers.
//
// # Scenario triggers
//
// Deterministic behaviours, selected by input. A product id (an Amazon productId, or a Shopify
// variantId or its part after "<store>/") prefixed "<scenario>:" selects a scenario for its
// store's order; an order takes the first scenario among its items.
//
//	| trigger                          | submitCart answer                                                  | placement                                                    |
//	|----------------------------------|--------------------------------------------------------------------|--------------------------------------------------------------|
//	| token "tok_declined"             | store error PAYMENT_FAILED, retryable false; nothing charged      | -                                                            |
//	| token "tok_insufficient_funds"   | ok, charged                                                        | PaymentFailed, OrderFailed INSUFFICIENT_FUNDS retryable false; ledger refunded |
//	| any other token / no token       | ok; charged (no token: invoice billing, Charged false)            | placed                                                       |
//	| buyer postalCode "00000"         | store error UNDELIVERABLE, retryable false                        | -                                                            |
//	| buyer email without "@"          | cart error BUYER_IDENTITY_INVALID_EMAIL, retryable false          | -                                                            |
//	| no buyer identity                | cart error BUYER_IDENTITY_MISSING, retryable false                | -                                                            |
//	| no Rye-Shopper-IP header         | cart error SHOPPER_IP_IS_REQUIRED, retryable false                | -                                                            |
//	| cart already submitted           | cart error ALREADY_SUBMITTED, retryable false                     | unchanged                                                    |
//	| oos-once:<id>                    | ok                                                                 | first cart placing <id>: OrderFailed OUT_OF_STOCK retryable true; later carts: placed (restocked) |
//	| unavailable:<id>                 | store error PRODUCTS_UNAVAILABLE, retryable true, always          | -                                                            |
//	| unavailable-2:<id>               | PRODUCTS_UNAVAILABLE retryable true on the first 2 submitCart calls reaching store checks with <id>, across carts; then ok | placed |
//	| upstream-2:<id>                  | UPSTREAM_SERVICE_ERROR retryable true on the cart's first 2 submitCart calls; then ok | placed                      |
//	| internal-1:<id>                  | INTERNAL_SERVER_ERROR retryable true on the cart's first submitCart; then ok | placed                               |
//	| unsupported:<id>                 | store error FEATURE_UNSUPPORTED, retryable false                  | -                                                            |
//	| bad-shipping:<id>                | store error SUBMIT_STORE_FAILED, retryable false                  | -                                                            |
//	| unknown-error:<id>               | store error SUBMIT_STORE_FAILED, retryable extension ABSENT       | -                                                            |
//	| timeout-placed:<id>              | cart's first submitCart: HTTP 504, plain-text body, but the cart WAS submitted (charged, in the ledger); later: ALREADY_SUBMITTED | placed |
//	| timeout-lost:<id>                | cart's first submitCart: HTTP 503, nothing happens (no events, not charged, not in the ledger); later calls behave normally | per the later call |
//	| stuck:<id>                       | ok, charged                                                        | only OrderSubmissionStartedOrderEvent, forever               |
//	| placement-failed:<id>            | ok, charged                                                        | OrderFailed MERCHANT_CONFIGURATION retryable false; refunded |
//	| placement-unknown:<id>           | ok, charged                                                        | OrderFailed INTERNAL_ERROR retryable null; refunded          |
//	| expired:<id>                     | root error CART_EXPIRED_ERROR (extensions.code), retryable false: the cart is created CartTTL+1 day (11 days) in the past | - |
//	| unknown cart id                  | root error CART_NOT_FOUND, retryable false (also checkoutByCartID) | -                                                           |
//
// Probabilistic faults, off by default, drawn from a random source seeded by Config.Seed:
// Config.FaultRate of submitCart calls are answered HTTP 503 before anything happens;
// Config.TimeoutRate of submitCart calls are answered HTTP 504 after the submission took
// effect; Config.Latency delays every request uniformly within [Min, Max].
package rye
