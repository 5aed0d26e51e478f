package provider

import "net/http"

// DefaultMaxConns is the concurrency a provider client's connection pool is sized for when
// Settings.MaxConns is 0: the consumer engine's default in-flight cap (1000 records per role),
// each record making at most one provider call at a time.
const DefaultMaxConns = 1000

// NewTransport returns an HTTP transport for one provider client: http.DefaultTransport's
// settings (proxy from the environment, dial and TLS timeouts, HTTP/2, 90s idle timeout), but
// keeping up to maxConns idle keep-alive connections per host. The default transport keeps 2,
// so a client carrying more calls at once closed most connections after one request and dialled
// (and TLS-handshook) a new one for the next. It also opens at most maxConns per host: without
// that bound a call waiting for a connection dials one even when another call's connection is
// about to be free, and the pool grows past the concurrency (calls beyond maxConns wait for a
// connection, within the client's timeout). maxConns <= 0 means DefaultMaxConns. Each client
// has its own: one provider's calls never queue behind another's connections.
func NewTransport(maxConns int) *http.Transport {
	if maxConns <= 0 {
		maxConns = DefaultMaxConns
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = maxConns
	t.MaxIdleConnsPerHost = maxConns
	t.MaxConnsPerHost = maxConns
	return t
}
