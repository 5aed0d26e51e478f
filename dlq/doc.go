// Package dlq is the on-call engineer's view of the dead-letter topic: it reads dead letters,
// filters and renders them, tells for each what a replay would do, and replays them without
// ever charging a customer twice. `orderflow dlq list | show | replay` is its command line.
//
// # Reading
//
// Read consumes the dead-letter topic from the start without a consumer group (nothing is
// committed, any number of engineers can read at once) and stops at the high watermarks taken
// with kadm's ListEndOffsets when it started. Values are decoded with schemas.Codec; records
// that do not decode are counted, not fatal. Re-emissions of a dead letter (a role that crashed
// after producing it produces it again) share its DeadLetterID: Read keeps the first copy and
// counts the others. Filter selects by time range, code, action, provider, order id, retryable
// and id (a unique prefix of a dead-letter id, as git abbreviates hashes).
//
// # What a replay would do: labels
//
// Inspect looks at every attempt of the dead letter's order in the idempotency store (attempt 1
// up to the highest number AllocateAttempt handed out, see idempotency.Allocations), because a
// replacement or an earlier replay may have placed the order since it was dead-lettered. It
// works per merchant order: the merchants of the dead letter's failed items.
//
//   - already-placed: an attempt placed every merchant order of the dead letter (the placed
//     status events stored with terminal attempts, or the provider says so, below). Replay is a
//     no-op; merchants already placed by another attempt are dropped from a replay's items.
//   - outcome-unknown: an attempt may still charge: its record is submitting or submitted, it
//     ended needs_attention (a stuck cart), or it was allocated and not yet picked up (its
//     request is on its way; except this replay id's replays of the order's other merchant
//     orders, so a cart whose merchant orders were dead-lettered separately replays in one run). Inspect first asks the provider (Provider.Status on the cart): a
//     placed cart makes the dead letter already-placed; a failed one no longer counts. What
//     remains refuses replay unless --force.
//   - will-submit: nothing placed, nothing in flight: a replay publishes a new attempt.
//
// and the refusals: not-replayable (no request: an undecodable record, fix it upstream),
// superseded (a newer dead letter of the same order and merchant exists: replay that one),
// already-replayed (this replay id already ran for this dead letter and its attempt failed:
// replay the newer dead letter it produced) and cap-reached (the order was replayed
// MaxReplays times, default 3: a loop; --force overrides).
//
// # Replay
//
// A replay is a new attempt of the order, never a resubmission of the dead-lettered one. Its
// number comes from Store.AllocateAttempt(order, "replay/<replay id>/<dead letter id>", floor),
// so running the same replay id again maps to the same attempt, which the worker's idempotency
// record dedupes: one replay id can not create two carts. The request is the dead letter's,
// with only the failed (and not since placed) items, the patch applied (buyer address, payment
// reference, items, ...), ReplayID set and ReplayCount incremented, the retry counter reset. It
// is published to the requests topic, where the normal worker path places it under its own
// idempotency record, and the dead letter's trace context travels as record headers.
//
// Digital River: before anything is labelled, the orders of the dead letter's checkout, and of
// every other ended attempt's checkout, are looked up (Provider.Status, GET /orders?checkoutId=).
// The answer Digital River gives a reused checkout is not something to rely on (404 is documented,
// 409 and 400 are plausible), so a dead letter may name a checkout that was consumed after all. A
// checkout whose order is placed makes the dead letter already-placed; one whose order is still in
// progress makes it checkout-consumed, refused even with --force (wait, then run again); a lookup
// that fails leaves it outcome-unknown. Only a checkout without an order (or with a failed one)
// lets a replay go on:
// a 409 (action new-checkout) replays as a new attempt, which creates a new checkout with the
// patched payment source. A fix-checkout dead letter (another 4xx; and a new-payment-method one
// refused at submission when the patch brings a new payment_ref) fixes the SAME checkout: Replay
// applies the patched buyer (shipTo, billTo, email) and payment source to it
// (digitalriver.Client UpdateCheckout, AttachSource), then publishes the new attempt with the
// attribute processor.ReuseCartAttribute = <checkout id>; the worker records that checkout as the
// attempt's cart instead of creating one, and submits it. A patch of items always replays with a
// NEW checkout: Digital River refuses line item changes on an existing checkout (400). Every
// refusal of the fix or of the submit is classified by the client only after it looked the
// checkout's orders up, so a checkout consumed in the meantime is already-submitted (refused, or
// polled by the worker), never resubmitted. --new-cart opts out of fixing in place.
//
// Every decision of a real run (not of a dry run) is recorded on the replays topic as a
// schemas.ReplayAudit: replay id, dead letter, label, result (submitted, noop, refused,
// failed), the attempt published, the names (never the values) of the patched fields, whether
// --force was used, and who ran it. Replays are paced by a token-bucket rate limit
// (golang.org/x/time/rate) and processed one at a time.
//
// # Secrets and personal data
//
// Payment references are never printed: "tok_visa" renders as "tok_…". List output (table and
// JSON) shows buyer fields as their first letter; Show prints the name and address fields an
// engineer needs to fix an address, never the payment reference, e-mail or phone in full.
// Audit records name patched fields, never their values.
package dlq
