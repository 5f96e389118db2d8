package metrics

import (
	"github.com/bareproxy/bareproxy/proxy/config"
	"github.com/bareproxy/bareproxy/proxy/health"
)

// HTTP figures are written for mode http proxies only, as HAProxy's
// exporter does; check figures for servers with a running health check.

func feTCP(x *feRow) bool   { return x.fe.Config.Mode != config.ModeHTTP }
func beTCP(x *beRow) bool   { return x.be.Config.Mode != config.ModeHTTP }
func srvTCP(x *srvRow) bool { return x.srv.Backend.Config.Mode != config.ModeHTTP }
func noCheck(x *srvRow) bool {
	return x.st.Check == nil
}

var frontendHTTPFamilies = []family[feRow]{
	{name: "haproxy_frontend_http_requests_total", typ: typeCounter, help: "Total number of HTTP requests received.", skip: feTCP,
		value: func(_ *snapshot, x *feRow) float64 { return u(x.st.Requests) }},
	{name: "haproxy_frontend_http_responses_total", typ: typeCounter, help: "Total number of HTTP responses by status class.", skip: feTCP,
		classes: func(x *feRow) *[6]uint64 { return &x.st.Responses }},
	{name: "haproxy_frontend_requests_denied_total", typ: typeCounter, help: "Total number of denied requests.", skip: feTCP,
		value: func(_ *snapshot, x *feRow) float64 { return u(x.st.Denied) }},
	{name: "haproxy_frontend_request_errors_total", typ: typeCounter, help: "Total number of request errors (malformed or timed out).", skip: feTCP,
		value: func(_ *snapshot, x *feRow) float64 { return u(x.st.InvalidRequests) }},
	{name: "haproxy_frontend_intercepted_requests_total", typ: typeCounter, help: "Total number of requests answered by the proxy itself (stats, redirects).", skip: feTCP,
		value: func(_ *snapshot, x *feRow) float64 { return u(x.st.Intercepted) }},
}

var backendHTTPFamilies = []family[beRow]{
	{name: "haproxy_backend_http_requests_total", typ: typeCounter, help: "Total number of HTTP requests forwarded.", skip: beTCP,
		value: func(_ *snapshot, x *beRow) float64 { return u(x.st.Requests) }},
	{name: "haproxy_backend_http_responses_total", typ: typeCounter, help: "Total number of HTTP responses by status class.", skip: beTCP,
		classes: func(x *beRow) *[6]uint64 { return &x.st.Responses }},
	{name: "haproxy_backend_requests_denied_total", typ: typeCounter, help: "Total number of denied requests.", skip: beTCP,
		value: func(_ *snapshot, x *beRow) float64 { return u(x.st.Denied) }},
	{name: "haproxy_backend_response_errors_total", typ: typeCounter, help: "Total number of invalid, missing or timed-out server responses.", skip: beTCP,
		value: func(_ *snapshot, x *beRow) float64 { return u(x.st.FailedResponses) }},
	{name: "haproxy_backend_connection_attempts_total", typ: typeCounter, help: "Total number of new server connections dialled for requests.", skip: beTCP,
		value: func(_ *snapshot, x *beRow) float64 { return u(x.st.Connects) }},
	{name: "haproxy_backend_connection_reuses_total", typ: typeCounter, help: "Total number of requests sent over a reused server connection.", skip: beTCP,
		value: func(_ *snapshot, x *beRow) float64 { return u(x.st.Reuses) }},
	{name: "haproxy_backend_current_queue", typ: typeGauge, help: "Number of requests waiting for a server slot.", skip: beTCP,
		value: func(_ *snapshot, x *beRow) float64 { return float64(x.st.QueueCur) }},
	{name: "haproxy_backend_max_queue", typ: typeGauge, help: "Highest queue length seen (the sum of each core's highest).", skip: beTCP,
		value: func(_ *snapshot, x *beRow) float64 { return float64(x.st.QueueMax) }},
	{name: "bareproxy_backend_queue_timeouts_total", typ: typeCounter, help: "Total number of requests that waited timeout queue and were answered 503.", skip: beTCP,
		value: func(_ *snapshot, x *beRow) float64 { return u(x.st.QueueTimeouts) }},
	{name: "haproxy_backend_check_up_down_total", typ: typeCounter, help: "Total number of UP to DOWN transitions of the backend's servers.",
		value: func(_ *snapshot, x *beRow) float64 {
			var n uint64
			for _, s := range x.st.Servers {
				if s.Check != nil {
					n += s.Check.Downs
				}
			}
			return u(n)
		}},
}

var serverHTTPFamilies = []family[srvRow]{
	{name: "bareproxy_server_http_requests_total", typ: typeCounter, help: "Total number of HTTP requests forwarded to the server.", skip: srvTCP,
		value: func(_ *snapshot, x *srvRow) float64 { return u(x.st.Requests) }},
	{name: "haproxy_server_http_responses_total", typ: typeCounter, help: "Total number of HTTP responses by status class.", skip: srvTCP,
		classes: func(x *srvRow) *[6]uint64 { return &x.st.Responses }},
	{name: "haproxy_server_response_errors_total", typ: typeCounter, help: "Total number of invalid, missing or timed-out responses.", skip: srvTCP,
		value: func(_ *snapshot, x *srvRow) float64 { return u(x.st.FailedResponses) }},
	{name: "haproxy_server_connection_attempts_total", typ: typeCounter, help: "Total number of new connections dialled for requests.", skip: srvTCP,
		value: func(_ *snapshot, x *srvRow) float64 { return u(x.st.Connects) }},
	{name: "haproxy_server_connection_reuses_total", typ: typeCounter, help: "Total number of requests sent over a reused connection.", skip: srvTCP,
		value: func(_ *snapshot, x *srvRow) float64 { return u(x.st.Reuses) }},
	{name: "haproxy_server_current_queue", typ: typeGauge, help: "Number of requests waiting for a slot on the server.", skip: srvTCP,
		value: func(_ *snapshot, x *srvRow) float64 { return float64(x.st.QueueCur) }},
	{name: "haproxy_server_max_queue", typ: typeGauge, help: "Highest queue length seen (the sum of each core's highest).", skip: srvTCP,
		value: func(_ *snapshot, x *srvRow) float64 { return float64(x.st.QueueMax) }},
}

// checkStates are the values of haproxy_server_check_status's state label:
// every outcome the health checker has a name for.
var checkStates = func() []string {
	var out []string
	for c := health.Code(0); c < 64 && c.String() != "UNK"; c++ {
		out = append(out, c.String())
	}
	return out
}()

var serverCheckFamilies = []family[srvRow]{
	{name: "haproxy_server_check_status", typ: typeGauge, help: "Status of the last health check, as HAProxy names it (INI before the first).", skip: noCheck,
		states: checkStates, state: func(x *srvRow) string { return x.st.Check.Last.Code.String() }},
	{name: "haproxy_server_check_code", typ: typeGauge, help: "HTTP status of the last layer 7 health check (0 when none).", skip: noCheck,
		value: func(_ *snapshot, x *srvRow) float64 { return float64(x.st.Check.Last.HTTPStatus) }},
	{name: "haproxy_server_check_duration_seconds", typ: typeGauge, help: "Duration of the last health check in seconds.", skip: noCheck,
		value: func(_ *snapshot, x *srvRow) float64 { return x.st.Check.Last.Duration.Seconds() }},
	{name: "haproxy_server_check_failures_total", typ: typeCounter, help: "Total number of failed health checks.", skip: noCheck,
		value: func(_ *snapshot, x *srvRow) float64 { return u(x.st.Check.Failed) }},
	{name: "haproxy_server_check_up_down_total", typ: typeCounter, help: "Total number of UP to DOWN transitions.", skip: noCheck,
		value: func(_ *snapshot, x *srvRow) float64 { return u(x.st.Check.Downs) }},
	{name: "haproxy_server_check_last_change_seconds", typ: typeGauge, help: "Seconds since the last UP/DOWN transition.", skip: noCheck,
		value: func(s *snapshot, x *srvRow) float64 {
			return float64(int64(s.now.Sub(x.st.Check.LastChange).Seconds()))
		}},
	{name: "haproxy_server_downtime_seconds_total", typ: typeCounter, help: "Total time the server spent DOWN, in seconds.", skip: noCheck,
		value: func(_ *snapshot, x *srvRow) float64 { return float64(int64(x.st.Check.Downtime.Seconds())) }},
}
