// Package drfake is a local, faithful simulator of the Digital River REST checkout API
// (checkouts, payment sessions, orders), used by every test and by the embedded run instead of the
// real provider. It keeps the rules of "Handling a rejected order" (seeds/000): a checkout becomes
// an order at most once, a 409 needs a new checkout, other 4xx can be fixed on the same checkout.
// Wire shapes follow the public docs (docs.digitalriver.com/digital-river-api/...); each type in
// wire.go names its page.
//
// # Routes
//
// Relative to the mount point (see NewHandler):
//
//	POST /checkouts                             create -> 201 checkout. Body: items [{skuId | productDetails, quantity
//	                                            (default 1), price | aggregatePrice, subscriptionInfo?, shipFrom?,
//	                                            discount?, metadata?}], email, shipTo, billTo, shipFrom, currency (default
//	                                            USD), upstreamId, sourceId, metadata, browserIp, locale, customerId,
//	                                            customerType, taxInclusive, chargeType, shippingChoice, discount,
//	                                            shippingDiscount, taxIdentifiers, purchaseLocation, creditAmount
//	GET  /checkouts/{id}                        -> 200 checkout; 404 once consumed (undocumented: the sandbox's choice)
//	POST /checkouts/{id}                        update the "Both" parameters; items only as [{id, subscriptionInfo?,
//	                                            shipFrom?, metadata?}]: any other item field is 400 unknown_parameter
//	POST /checkouts/{id}/sources/{sourceId}     attach (replace) the primary payment source -> 200 source
//	POST /orders {"checkoutId"}                 -> 201 order; other fields are ignored, as Digital River ignores them
//	GET  /orders/{id}                           -> 200 order
//	GET  /orders?checkoutId=&ids=&upstreamIds=&state=&email=&customerId=&limit=&startingAfter=&endingBefore=
//	                                            -> 200 {"data": [orders], "hasMore": bool}, oldest first, limit 1-100 (10)
//
// Amounts (price, totalAmount, amountContributed, ...) are JSON numbers in major units with two
// decimals. Create and update bodies are decoded strictly: a field Digital River does not document
// is 400 unknown_parameter "'<field>' is an unknown parameter." ("Describing line items").
// No response carries a request-id header (Digital River documents none); the client's upstream-id
// request header is accepted and ignored. Errors have Digital River's shape:
//
//	{"type": "conflict", "errors": [{"code": "failed-request", "message": "..."}]}
//
// with type one of bad_request (400), unauthorized (401), not_found (404, code not_found),
// conflict (409), too_many_requests (429), internal_server_error (500, 503), request_timeout (504).
//
// # Line items
//
// An item names a catalogue skuId or carries productDetails {id, skuGroupId, name, countryOfOrigin,
// description, url, image, weight, weightUnit, partNumber, itemBreadcrumb}. productDetails without
// skuGroupId is 400 missing_parameter "An item of type sku is missing a skuGroupId parameter.",
// without countryOfOrigin 400 missing_parameter "must not be null", an invalid countryOfOrigin
// (not two capitals, or KP) 400 invalid_parameter, without name 400 missing_parameter ("Using
// product details"). Any skuId is accepted: the sandbox has no catalogue (a real account needs the
// SKU to exist). Checkout and order items carry id, skuId (SKU items), productDetails (always; for a
// SKU item just its id), amount (the line total) and quantity.
//
// # Payment session
//
// A checkout's payment.session is requires_source until a source is attached (or the total is 0),
// then requires_confirmation with amountContributed = totalAmount and amountRemainingToBeContributed = 0.
// POST /orders answers 400 order_submit_failed "Payment session status is invalid." unless the
// state is requires_confirmation and nothing remains to be contributed ("Payment sessions").
// pending_funds is a state of an ORDER's session (a delayed, receiver-flow payment), never of a
// checkout's.
//
// # Reused checkouts
//
// A consumed checkout (one an order was created from) answers POST /orders, POST /checkouts/{id}
// and attaching a source with Config.ReusedCheckoutStatus (`orderflow sandbox
// --dr-reused-checkout-status`), or the status its "reused-<status>:" sku trigger names:
//
//	404 (default)  not_found, code not_found; POST /orders: parameter orderId, "Order <order id> not found"
//	               (the body "Processing orders" documents under "Reusing the checkout identifier")
//	409            conflict, code failed-request (the code of a declined charge)
//	400            bad_request, code order_submit_failed, "Payment session status is invalid."
//
// Every one of them leaves the ledger with the checkout's single entry.
//
// # Scenario triggers
//
// Deterministic triggers, chosen by the payment source id (prefix match) or by a "<scenario>:"
// prefix on any product id of the checkout (skuId or productDetails.id, e.g. "bad-tax:SKU1";
// unknown prefixes are ignored). They are the sandbox's own (real test mode has test cards):
//
//	| trigger                          | effect                                                                                                                                                                                    | ledger                        |
//	|----------------------------------|-------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------|-------------------------------|
//	| source `src_declined*`           | session ready; every POST /orders of the checkout: 409 conflict, code failed-request, "charge declined: insufficient funds", even after another source is attached (needs a NEW checkout) | nothing                       |
//	| source `src_pending_funds_never*`| a delayed (receiver-flow) payment never funded: order pending_payment, session pending_funds with nextAction show_payment_instructions, no charge; cancelled after 3 PlacementSteps    | one entry, not charged        |
//	| source `src_pending_funds*`      | a delayed payment: order pending_payment, session pending_funds, no charge; funded and accepted after 3 PlacementSteps                                                                   | one entry                     |
//	| any other source                 | session requires_confirmation; POST /orders: 201                                                                                                                                          | one entry                     |
//	| no source                        | session requires_source; POST /orders: 400 order_submit_failed                                                                                                                            | nothing                       |
//	| sku `bad-tax:`                   | POST /orders: 400 order_create_failed (parameter shipTo) until POST /checkouts/{id} sets shipTo; then the SAME checkout id succeeds                                                       | one entry, after the fix      |
//	| sku `timeout-created:`           | the POST /orders that creates the order answers 504 request_timeout; the order exists and the checkout is consumed                                                                        | one entry                     |
//	| sku `server-error-1:`            | the first POST /orders of the checkout: 500 internal_server_error, nothing created; a resubmit succeeds                                                                                   | one entry, after the resubmit |
//	| sku `review:`                    | order in_review (fraudState review_opened), accepted after 2 PlacementSteps                                                                                                               | one entry                     |
//	| sku `fraud-blocked:`             | order pending_payment, blocked after 1 PlacementStep, charge cancelled                                                                                                                    | one entry, refunded           |
//	| sku `fulfilled:`                 | order accepted after 1 PlacementStep, fulfilled after 2, complete (charge captured) after 3                                                                                               | one entry                     |
//	| sku `reused-404:` / `reused-409:` / `reused-400:` | once consumed, the checkout answers reuse with that status (see Reused checkouts)                                                                                        | one entry                     |
//	| no trigger                       | order pending_payment, accepted after 1 PlacementStep                                                                                                                                     | one entry                     |
//	| Config.RPS exceeded              | 429 too_many_requests, Retry-After: <whole seconds>                                                                                                                                       | -                             |
//	| Config.FaultRate                 | 503 internal_server_error (code service-unavailable) before anything happens                                                                                                              | nothing                       |
//	| Config.TimeoutRate               | POST /checkouts or POST /orders creates its resource, then answers 504 request_timeout                                                                                                    | one entry (orders)            |
//	| Config.LatencyMin/Max            | uniform random delay before every request                                                                                                                                                 | -                             |
//	| wrong or missing key             | 401 unauthorized                                                                                                                                                                          | -                             |
//
// POST /orders checks, in order: unknown checkout (404 not_found), consumed checkout (the reused
// status), server-error-1, the payment session gate, the declined source, bad-tax.
//
// # Orders
//
// An order carries state, fraudState, stateTransitions, items, payment {charges, sources, session}
// ("Charges": charges[] with id, createdTime, currency, amount, state pending | capturable |
// complete | cancelled, captured, refunded, sourceId, type). States follow "The order lifecycle":
// pending_payment, in_review, accepted, blocked, cancelled, fulfilled, complete.
//
// # Ledger
//
// Every consumed checkout is one ledger.Entry{Provider: "digitalriver", CartID: checkout id,
// OrderRef: the checkout's upstreamId, AmountCents, Currency, Charged, Orders: [order id]};
// a blocked order marks it Refunded as soon as it is blocked, whether or not anyone reads it.
package drfake
