// Package digitalriver is a local, faithful simulator of the Digital River REST checkout API
// (checkouts, payment sessions, orders), used by every test and by the embedded run instead of the
// real provider. It keeps the rules of "Handling a rejected order" (seeds/000): a checkout becomes
// an order at most once, a 409 needs a new checkout, other 4xx can be fixed on the same checkout,
// and a consumed checkout answers 404.
//
// # Routes
//
// Relative to the mount point (see NewHandler):
//
//	POST /checkouts                             create; body {items [{skuId, quantity, price}], email, shipTo, billTo,
//	                                            currency (default USD), upstreamId, sourceId?, metadata?} -> 201 checkout
//	GET  /checkouts/{id}                        -> 200 checkout; 404 once consumed
//	POST /checkouts/{id}                        update email, shipTo, billTo, items, metadata -> 200 checkout
//	POST /checkouts/{id}/sources/{sourceId}     attach (replace) the primary payment source -> 200 source
//	POST /orders {"checkoutId"}                 -> 201 order {id, checkoutId, upstreamId, state, totalAmount, items, charges}
//	GET  /orders/{id}                           -> 200 order
//	GET  /orders?checkoutId=&upstreamId=        -> 200 {"data": [orders], "hasMore": false}, oldest first
//
// Amounts (price, totalAmount, amountContributed, ...) are JSON numbers in major units with two
// decimals. Request bodies are decoded strictly: an unknown field is a 400.
// Every response, errors included, carries an X-Request-Id header (RequestIDHeader).
// Errors have Digital River's shape:
//
//	{"type": "conflict", "errors": [{"code": "failed-request", "parameter": "", "message": "..."}]}
//
// with type one of bad_request (400), unauthorized (401), not_found (404), conflict (409),
// too_many_requests (429), internal_server_error (500, 503), request_timeout (504).
//
// # Payment session
//
// A checkout's payment.session is requires_source until a source is attached (or the total is 0),
// then requires_confirmation with amountContributed = totalAmount and amountRemainingToBeContributed = 0.
// POST /orders answers 400 order_submit_failed unless the state is requires_confirmation and nothing
// remains to be contributed.
//
// # Scenario triggers
//
// Deterministic triggers, chosen by the payment source id (prefix match) or by a "<scenario>:"
// prefix on any sku id of the checkout (e.g. "bad-tax:SKU1"; unknown prefixes are ignored):
//
//	| trigger                     | effect                                                                                                                                                                                    | ledger                        |
//	|-----------------------------|-------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------|-------------------------------|
//	| source `src_declined*`      | session ready; every POST /orders of the checkout: 409 conflict, code failed-request, "charge declined: insufficient funds", even after another source is attached (needs a NEW checkout) | nothing                       |
//	| source `src_pending_funds*` | session pending_funds; POST /orders: 400 order_submit_failed; attaching another source to the same checkout makes it ready                                                                | nothing                       |
//	| any other source            | session requires_confirmation; POST /orders: 201                                                                                                                                          | one entry                     |
//	| sku `bad-tax:`              | POST /orders: 400 order_create_failed (parameter shipTo) until POST /checkouts/{id} sets shipTo; then the SAME checkout id succeeds                                                       | one entry, after the fix      |
//	| sku `timeout-created:`      | the POST /orders that creates the order answers 504 request_timeout; the order exists and the checkout is consumed                                                                        | one entry                     |
//	| sku `server-error-1:`       | the first POST /orders of the checkout: 500 internal_server_error, nothing created; a resubmit succeeds                                                                                   | one entry, after the resubmit |
//	| sku `review:`               | order in_review, accepted after 2 PlacementSteps                                                                                                                                          | one entry                     |
//	| sku `fraud-blocked:`        | order pending_payment, blocked after 1 PlacementStep, charge cancelled                                                                                                                    | one entry, refunded           |
//	| no trigger                  | order pending_payment, accepted after 1 PlacementStep                                                                                                                                     | one entry                     |
//	| Config.RPS exceeded         | 429 too_many_requests, Retry-After: <whole seconds>                                                                                                                                       | -                             |
//	| Config.FaultRate            | 503 internal_server_error (code service-unavailable) before anything happens                                                                                                              | nothing                       |
//	| Config.TimeoutRate          | POST /checkouts or POST /orders creates its resource, then answers 504 request_timeout                                                                                                    | one entry (orders)            |
//	| Config.LatencyMin/Max       | uniform random delay before every request                                                                                                                                                 | -                             |
//	| wrong or missing key        | 401 unauthorized                                                                                                                                                                          | -                             |
//
// POST /orders checks, in order: unknown or consumed checkout (404 not_found, code
// resource-not-found), server-error-1, the payment session gate, the declined source, bad-tax.
//
// # Ledger
//
// Every consumed checkout is one ledger.Entry{Provider: "digitalriver", CartID: checkout id,
// OrderRef: the checkout's upstreamId, AmountCents, Currency, Charged: true, Orders: [order id]};
// a blocked order marks it Refunded as soon as it is blocked, whether or not anyone reads it.
package digitalriver
