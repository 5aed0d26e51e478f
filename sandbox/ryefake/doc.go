// Package ryefake is a local simulator of the Rye checkout API (GraphQL), served by
// graph-gophers/graphql-go from ryeschema.SDL (provider/rye/ryeschema/schema.graphql): the one
// description of Rye's real API in the repository, a faithful subset of the real schema, which
// the client in provider/rye is also generated from. Every answer traces to a documented fact
// of real Rye, cited in the code with the schema header's tags (SDK-2024: rye-sdk's codegen of
// the live schema; SDK-ops: operations the official SDK sends; DOCS: docs.rye.com
// api-reference pages). Where the docs are silent the code says so, and the behaviour is
// either selectable (Config) or named a sandbox trigger below.
//
// # Protocol
//
// POST <base>/v1/query with JSON {query, variables, operationName}.
//   - "Authorization: Basic <Config.APIKey>" is required: otherwise HTTP 401 with the root
//     error code UNAUTHENTICATED (no Ratelimit headers: the request is charged to no key).
//     A body that is not JSON: HTTP 400, JSON_PARSE_ERROR; a document that does not parse:
//     GRAPHQL_PARSE_ERROR (codes: DOCS root-errors; HTTP statuses undocumented).
//   - "Rye-Shopper-IP" is required on submitCart (DOCS submitcart). What real Rye answers
//     without it is undocumented; the sandbox answers the cart-level SubmitCartResultError
//     SUBMIT_CART_FAILED (message naming the header), top-level retryable false.
//   - "Orderflow-Order-Ref" on createCart is a sandbox-only correlation header: it is stored on the
//     cart and reported by the ledger. A real Rye ignores it.
//   - Rate limits (DOCS ratelimits): per API key, tier "Strict" (createCart, submitCart;
//     Config.StrictRPS, default the real 1/s) and "Default" (everything else; Config.DefaultRPS,
//     default the real 100/s); 0 = real, negative = Unlimited. Every authenticated response
//     carries Ratelimit-Limit, Ratelimit-Remaining, Ratelimit-Tier and Ratelimit-Reset: seconds
//     until the window resets (default) or, with Config.ResetEpoch, its Unix epoch second (the
//     docs' sample code reads it that way). Over the limit: HTTP 429. Retry-After is not
//     documented for Rye and is sent only with Config.RetryAfter. An unlimited tier reports
//     limit and remaining as 2147483647.
//   - A failed submitCart carries the retryable flag in the response's top-level extensions
//     (DOCS handling-errors): {"data": ..., "extensions": {"retryable": false}} (true, false,
//     or absent = unknown). When several stores fail, any false makes it false, else any
//     absent makes it absent. createCart never carries it.
//   - Root GraphQL errors carry extensions {"code": ...} only, no retryable (DOCS root-errors):
//     CART_NOT_FOUND_ERROR (unknown cart id: submitCart, checkoutByCartID, getCart; message
//     "Cart not found: <id>"), CART_EXPIRED_ERROR, INTERNAL_SERVER_ERROR (root-internal).
//     submitCart and getCart are non-null fields, so their root errors make data null.
//
// # Model
//
// Stores: an Amazon item (amazonCartItemsInput.productId, the ASIN) is in the store "amazon"
// (DOCS amazonstore: store "is always equal to amazon"). A Shopify item is sent as the plain
// variant id (DOCS: real Rye resolves its store). Sandbox trigger: a variant id
// "<variant>@<store domain>" (e.g. "oos-once:V000001@shop-a.myshopify.com") is in <store
// domain> (after the last "@"); any other variant id is in Config.DefaultShopifyStore (default
// "sandbox-store.myshopify.com"). Cart lines report ids exactly as sent
// (AmazonCartLine.product.id and ASIN, ShopifyCartLine.variant.id). One store is one order; its
// id exists from cart creation and is the store's orderId and, equal to it, requestId (DOCS:
// requestId is deprecated for orderId) and SubmitStoreResult.orderId/requestId. Orders are
// listed by checkoutByCartID (and orderByID) from cart creation, status PENDING, no events.
// An order is tied to its store only through that id (Order has no store field).
//
// Prices: the unit price of a product id (the full id as sent) is 500 + fnv32a(id) mod 19501
// cents, i.e. $5.00 to $200.00, stable across runs; tax, shipping and margin are 0; currency
// USD. CartCost.isEstimated is true while the cart has no buyer identity (how Rye decides it
// is undocumented). Offers (one free "standard" shipping method) exist once there is a buyer
// identity. Product, image and tracking URLs and the 3-D Secure redirectURL point at the
// sandbox's own host ("http://<host>/products/<id>", "/3ds/<order id>", ...); nothing serves them.
//
// submitCart: token is optional (SDK-2024): with a token the cart is charged; without one
// nothing is captured (invoice billing; ledger Charged false). billingAddress is optional
// (SDK-2024) and validated by the schema alone (its non-null fields and the Country enum);
// selectedShippingOptions are accepted and ignored (use bad-shipping for a rejected one).
// SubmitStoreResult.status: COMPLETED once submitted, PAYMENT_FAILED for a store with a
// PAYMENT_FAILED error, FAILED otherwise (also for a store without errors in a failed
// submission); null with no-status. There is no PENDING.
//
// Submission is all or nothing: checks run in the order fault, shopper IP, cart lookup,
// timeout-lost, ALREADY_SUBMITTED, expiry (Config.CartTTL), cart-level validation
// (CART_IS_EMPTY, BUYER_IDENTITY_MISSING, BUYER_IDENTITY_INVALID_EMAIL), store checks, payment.
// Only when every store passes is the token charged, the cart recorded in the ledger (one
// entry per cart: ledger.Entry{Provider: "rye", CartID, OrderRef, AmountCents, Currency: "USD",
// Charged: token given, Orders}) and placement queued. Real Rye documents partial success of a
// multi-store cart (resubmitting "has no effect on already submitted stores"); the sandbox does
// not simulate it. submitCart of a submitted cart answers the cart-level error
// ALREADY_SUBMITTED, top-level retryable false (DOCS submitcart).
//
// Placement runs on an accelerated clock of Config.PlacementStep after submission: at +1
// OrderSubmissionStartedOrderEvent (PROCESSING); at +2 PaymentSucceededOrderEvent (when
// charged) and OrderSubmissionSucceededOrderEvent; at +3 OrderPlacedOrderEvent (SUCCEEDED,
// Order.marketplaceOrderIds set); at +4 TrackingObtainedOrderEvent and an Order.shipments
// entry {carrierName "UPS", carrierTrackingNumber, carrierTrackingUrl}. A failing order instead
// gets at +3 OrderFailedOrderEvent {reason, reasonCode, retryable} (FAILED) and, if charged,
// PaymentRefundedOrderEvent. Events are computed from the submission time when queried. When
// every order of a charged cart fails or is cancelled, a timer marks the ledger entry refunded
// when the last one ends (a partly placed cart keeps its one ledger entry charged). Close stops
// pending timers. CheckoutStatus folds order statuses (how Rye does is undocumented): any
// ACTION_REQUIRED, then any CANCELLATION_IN_PROGRESS; all final and alike: that status;
// succeeded and failed: PARTIALLY_SUCCEEDED; other final mixes: MIXED; else PROCESSING or PENDING.
//
// 3-D Secure: real Rye keeps an order ACTION_REQUIRED until the buyer completes the challenge
// at its redirectURL (DOCS 3ds-challenge: "Once the end buyer completes the challenge, Rye will
// continue with order processing"). The sandbox's simulated buyer answers one step after a
// checkoutByCartID or orderByID answer first showed the challenge (and not before +5): a
// buyer can only answer a challenge a client showed them, and every client, however slowly it
// polls, sees the challenge at least once. A challenge nobody read stays pending.
//
// # Scenario triggers
//
// Deterministic behaviours, selected by input. A product id (an Amazon productId or a Shopify
// variantId) prefixed "<scenario>:" selects a scenario for its store's order; an order takes
// the first scenario among its items (not-found and unpriced act on their item only).
//
//	| trigger                          | createCart / submitCart answer                                     | placement                                                    |
//	|----------------------------------|--------------------------------------------------------------------|--------------------------------------------------------------|
//	| token "tok_declined"             | store error PAYMENT_FAILED, status PAYMENT_FAILED, retryable false; nothing charged | -                                           |
//	| token "tok_insufficient_funds"   | ok, charged                                                        | PaymentFailed, OrderFailed INSUFFICIENT_FUNDS retryable false; ledger refunded |
//	| any other token                  | ok, charged                                                        | placed                                                       |
//	| no token                         | ok, nothing charged (invoice billing: ledger Charged false)       | placed                                                       |
//	| buyer postalCode "00000"         | store error UNDELIVERABLE, retryable false                        | -                                                            |
//	| buyer email without "@"          | cart error BUYER_IDENTITY_INVALID_EMAIL, retryable false          | -                                                            |
//	| no buyer identity                | cart error BUYER_IDENTITY_MISSING, retryable false                | -                                                            |
//	| no Rye-Shopper-IP header         | cart error SUBMIT_CART_FAILED, retryable false (sandbox's pick)   | -                                                            |
//	| cart already submitted           | cart error ALREADY_SUBMITTED, retryable false                     | unchanged                                                    |
//	| <variant>@<store domain>         | Shopify item in store <store domain> (else Config.DefaultShopifyStore) | -                                                       |
//	| not-found:<id>                   | createCart: CartError PRODUCT_NOT_FOUND, cart returned without the item; no retryable extension | -                |
//	| unpriced:<id>                    | createCart/getCart/checkout: Cart.cost null                       | placed                                                       |
//	| no-status:<id>                   | ok; SubmitStoreResult.status null                                  | placed                                                       |
//	| oos-once:<id>                    | ok                                                                 | first cart placing <id>: OrderFailed OUT_OF_STOCK retryable true; later carts: placed (restocked) |
//	| unavailable:<id>                 | store error PRODUCTS_UNAVAILABLE, retryable true, always          | -                                                            |
//	| unavailable-2:<id>               | PRODUCTS_UNAVAILABLE retryable true on the first 2 submitCart calls reaching store checks with <id>, across carts; then ok | placed |
//	| upstream-2:<id>                  | UPSTREAM_SERVICE_ERROR retryable true on the cart's first 2 submitCart calls; then ok | placed                      |
//	| internal-1:<id>                  | store error INTERNAL_SERVER_ERROR retryable true on the cart's first submitCart; then ok | placed                   |
//	| unsupported:<id>                 | store error FEATURE_UNSUPPORTED, retryable false                  | -                                                            |
//	| bad-shipping:<id>                | store error SUBMIT_STORE_FAILED, retryable false                  | -                                                            |
//	| unknown-error:<id>               | store error SUBMIT_STORE_FAILED, retryable extension ABSENT       | -                                                            |
//	| root-internal:<id>               | cart's first submitCart: root error INTERNAL_SERVER_ERROR, data null, but the cart WAS submitted (charged, in the ledger); later: ALREADY_SUBMITTED | placed |
//	| timeout-placed:<id>              | cart's first submitCart: HTTP 504, plain-text body, but the cart WAS submitted (charged, in the ledger); later: ALREADY_SUBMITTED | placed |
//	| timeout-lost:<id>                | cart's first submitCart: HTTP 503, nothing happens (no events, not charged, not in the ledger); later calls behave normally | per the later call |
//	| stuck:<id>                       | ok, charged                                                        | only OrderSubmissionStartedOrderEvent, forever               |
//	| placement-failed:<id>            | ok, charged                                                        | OrderFailed MERCHANT_CONFIGURATION retryable false; refunded |
//	| placement-unknown:<id>           | ok, charged                                                        | OrderFailed INTERNAL_ERROR retryable null; refunded          |
//	| 3ds-pass:<id>                    | ok, charged                                                        | +1 Started, ACTION_REQUIRED with requiredActions [CompletePaymentChallenge{redirectURL}] until the answer A: +5, but never before 1 step after a read first showed the challenge (3-D Secure below); then PaymentSucceeded, SubmissionSucceeded (PROCESSING), A+1 Placed (SUCCEEDED), A+2 tracking |
//	| 3ds-fail:<id>                    | ok, charged                                                        | challenge as 3ds-pass until its answer A; then PaymentFailed, OrderFailed PAYMENT_FAILED retryable false (FAILED); ledger refunded |
//	| 3ds-abandon:<id>                 | ok, charged                                                        | +1 Started, ACTION_REQUIRED with the challenge, forever      |
//	| cancelled:<id>                   | ok, charged                                                        | placed at +3; +4 OrderCancelStarted (CANCELLATION_IN_PROGRESS); +5 OrderCancelSucceeded, PaymentRefunded (CANCELLED); ledger refunded |
//	| refund-partial:<id>              | ok, charged                                                        | placed; +4 tracking and RefundCreatedOrderEvent{amount: half the store's subtotal}; stays SUCCEEDED |
//	| expired:<id>                     | submitCart: root error CART_EXPIRED_ERROR: the cart is created CartTTL+1 day (11 days) in the past | -                  |
//	| unknown cart id                  | root error CART_NOT_FOUND_ERROR (submitCart, checkoutByCartID, getCart) | -                                                       |
//
// Probabilistic faults, off by default, drawn from a random source seeded by Config.Seed:
// Config.FaultRate of submitCart calls are answered HTTP 503 before anything happens;
// Config.TimeoutRate of submitCart calls are answered HTTP 504 after the submission took
// effect; Config.Latency delays every request uniformly within [Min, Max].
package ryefake
