// Package consumer is orderflow's Kafka consumption engine: a franz-go group consumer that
// processes records of different keys concurrently and records of one key strictly in order,
// under a global in-flight cap (Config.MaxInFlight), and commits per partition only the offset
// below which every record is finished. What a handler's result means is the Handler contract.
//
// Records carrying a due time (package due) are held, with their partition paused, until that
// time; this is how delay-tier retry topics and the tracker's polling schedule work without
// sleeping goroutines or busy polling. Per-key order holds across held records too: a key's
// records reach the handler in the order the engine accepted them, whatever topic or partition
// they come from, so a later event of an order waiting on a retry runs after the retry, while
// other keys keep flowing.
//
// On revoke (cooperative-sticky rebalance, or shutdown) the engine stops taking records of the
// revoked partitions and drops their held ones (and those waiting behind them), lets the records
// it already handed to the handler finish within Config.RevokeTimeout, and commits
// synchronously. On lost partitions it cancels their work and commits nothing.
//
// Cross-cutting handler behaviour is Middleware, composed with Chain. The engine's internals
// (locks, invariants, which file holds what) are in ARCHITECTURE.md, "Consumption engine".
package consumer
