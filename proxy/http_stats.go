package proxy

import (
	"io"
	"time"
)

// StatsKind is the form a stats rendering takes.
type StatsKind int

// Stats kinds.
const (
	// StatsHTML is the stats page a frontend with "stats enable" serves
	// at its "stats uri".
	StatsHTML StatsKind = iota
	// StatsPrometheus is the Prometheus text exposition format served by
	// "http-request use-service prometheus-exporter".
	StatsPrometheus
)

// String returns "html" or "prometheus".
func (k StatsKind) String() string {
	if k == StatsPrometheus {
		return "prometheus"
	}
	return "html"
}

// StatsRenderer renders the engine's statistics for the mode http engine's
// stats page and Prometheus exporter. Package proxy/metrics provides one.
// RenderStats may be called from any core at any time, concurrently.
type StatsRenderer interface {
	// RenderStats writes the statistics in the given kind to w and
	// returns the Content-Type of what it wrote. The engine buffers the
	// output, so that it can send a Content-Length.
	RenderStats(w io.Writer, kind StatsKind) (contentType string, err error)
}

// WithStats serves "stats uri" pages and the Prometheus exporter with r.
// Without it those requests are answered 503, and the frontends still
// route everything else.
func WithStats(r StatsRenderer) Option {
	return func(o *options) { o.http.stats = r }
}

// httpOptions are the options that only the mode http engine reads.
type httpOptions struct {
	stats    StatsRenderer
	poolIdle time.Duration // idle pooled connection lifetime; 0 means poolIdleTimeout
	poolMax  int           // idle connections per server and core; 0 means maxIdlePerCore
}
