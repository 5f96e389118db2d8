package metrics

import (
	"github.com/bareproxy/bareproxy/proxy"
)

// family is one metric family over objects of type T: either one sample
// per object (value), or, for status families, one sample per state with
// the label state, 1 for the object's current state and 0 for the others,
// as HAProxy's exporter does.
type family[T any] struct {
	name, typ, help string
	value           func(s *snapshot, x *T) float64
	states          []string
	state           func(x *T) string
	// skip, if set, leaves a row out (HTTP figures of mode tcp proxies,
	// check figures of unchecked servers).
	skip func(x *T) bool
	// classes, if set, makes one sample per HTTP status class with the
	// label code ("1xx" ... "5xx", "other"), as HAProxy's
	// *_http_responses_total.
	classes func(x *T) *[6]uint64
}

// codeClasses are the values of the code label, in proxy.Counters.Responses
// order.
var codeClasses = [6]string{"1xx", "2xx", "3xx", "4xx", "5xx", "other"}

// writeFamilies writes each family with one or more samples per row.
func writeFamilies[T any](e *expo, s *snapshot, fams []family[T], rows []T, labels func(*T) []string) {
	var scratch [8]string
	for _, f := range fams {
		header := false
		for i := range rows {
			x := &rows[i]
			if f.skip != nil && f.skip(x) {
				continue
			}
			if !header {
				e.family(f.name, f.typ, f.help)
				header = true
			}
			lbl := labels(x)
			if f.classes != nil {
				n := copy(scratch[:], lbl)
				for c, v := range f.classes(x) {
					scratch[n], scratch[n+1] = "code", codeClasses[c]
					e.sample(f.name, scratch[:n+2], u(v))
				}
				continue
			}
			if f.states == nil {
				e.sample(f.name, lbl, f.value(s, x))
				continue
			}
			n := copy(scratch[:], lbl)
			cur := f.state(x)
			for _, st := range f.states {
				scratch[n], scratch[n+1] = "state", st
				v := 0.0
				if st == cur {
					v = 1
				}
				e.sample(f.name, scratch[:n+2], v)
			}
		}
	}
}

func u(v uint64) float64 { return float64(v) }

// writeProcess writes haproxy_process_* and the process-wide bareproxy_*
// figures.
func (s *snapshot) writeProcess(e *expo) {
	cfg := s.r.Proxy.Config()
	var total uint64
	for _, f := range s.st.Frontends {
		total += f.Conns
	}
	one := func(name, typ, help string, v float64) {
		e.family(name, typ, help)
		e.sample(name, nil, v)
	}
	one("haproxy_process_nbthread", typeGauge, "Number of cores the proxy runs on (one partitioned stack each).", float64(s.r.Proxy.Cores()))
	one("haproxy_process_max_connections", typeGauge, "Maximum number of concurrent connections (global maxconn; 0 means no limit).", float64(cfg.Global.MaxConn))
	one("haproxy_process_current_connections", typeGauge, "Number of active sessions.", float64(s.st.Cur))
	one("haproxy_process_connections_total", typeCounter, "Total number of connections accepted by every frontend.", u(total))
	if !s.r.Start.IsZero() {
		one("haproxy_process_start_time_seconds", typeGauge, "Start time in seconds since the Unix epoch.", float64(s.r.Start.Unix()))
		one("haproxy_process_uptime_seconds", typeGauge, "How long ago this process was started, in seconds.", float64(int64(s.now.Sub(s.r.Start).Seconds())))
	}
	if s.logs != nil {
		one("haproxy_process_dropped_logs_total", typeCounter, "Total number of log lines dropped because the log queue was full.", u(s.logs.Dropped))
		one("bareproxy_process_sent_logs_total", typeCounter, "Total number of log lines handed to a log target.", u(s.logs.Sent))
		one("bareproxy_process_failed_logs_total", typeCounter, "Total number of log lines a log target failed to send.", u(s.logs.Errors))
	}
}

var frontendFamilies = []family[feRow]{
	{name: "haproxy_frontend_status", typ: typeGauge, help: "Current status of the service.",
		states: frontendStates, state: func(*feRow) string { return stateUp }},
	{name: "haproxy_frontend_current_sessions", typ: typeGauge, help: "Number of current sessions.",
		value: func(_ *snapshot, x *feRow) float64 { return float64(x.st.Cur) }},
	{name: "haproxy_frontend_limit_sessions", typ: typeGauge, help: "Configured session limit (maxconn; 0 means none).",
		value: func(s *snapshot, x *feRow) float64 { return float64(s.frontendLimit(x.fe)) }},
	{name: "haproxy_frontend_sessions_total", typ: typeCounter, help: "Total number of sessions.",
		value: func(_ *snapshot, x *feRow) float64 { return u(x.st.Conns) }},
	{name: "haproxy_frontend_connections_total", typ: typeCounter, help: "Total number of new connections.",
		value: func(_ *snapshot, x *feRow) float64 { return u(x.st.Conns) }},
	{name: "haproxy_frontend_bytes_in_total", typ: typeCounter, help: "Total number of request bytes received from clients.",
		value: func(_ *snapshot, x *feRow) float64 { return u(x.st.BytesIn) }},
	{name: "haproxy_frontend_bytes_out_total", typ: typeCounter, help: "Total number of response bytes sent to clients.",
		value: func(_ *snapshot, x *feRow) float64 { return u(x.st.BytesOut) }},
	{name: "bareproxy_frontend_no_server_total", typ: typeCounter, help: "Total number of sessions closed because no server was available (none up, all full, or no backend matched).",
		value: func(_ *snapshot, x *feRow) float64 { return u(x.st.NoServer) }},
}

var backendFamilies = []family[beRow]{
	{name: "haproxy_backend_status", typ: typeGauge, help: "Current status of the service (UP while at least one server is up).",
		states: frontendStates, state: func(x *beRow) string {
			if backendUp(x.be) {
				return stateUp
			}
			return stateDown
		}},
	{name: "haproxy_backend_current_sessions", typ: typeGauge, help: "Number of current sessions.",
		value: func(_ *snapshot, x *beRow) float64 { return float64(x.st.Cur) }},
	{name: "haproxy_backend_sessions_total", typ: typeCounter, help: "Total number of sessions.",
		value: func(_ *snapshot, x *beRow) float64 { return u(x.st.Conns) }},
	{name: "haproxy_backend_bytes_in_total", typ: typeCounter, help: "Total number of request bytes received from clients.",
		value: func(_ *snapshot, x *beRow) float64 { return u(x.st.BytesIn) }},
	{name: "haproxy_backend_bytes_out_total", typ: typeCounter, help: "Total number of response bytes sent to clients.",
		value: func(_ *snapshot, x *beRow) float64 { return u(x.st.BytesOut) }},
	{name: "haproxy_backend_connection_errors_total", typ: typeCounter, help: "Total number of failed connection attempts to servers.",
		value: func(_ *snapshot, x *beRow) float64 { return u(x.st.ConnectErrors) }},
	{name: "haproxy_backend_retry_warnings_total", typ: typeCounter, help: "Total number of connection retries.",
		value: func(_ *snapshot, x *beRow) float64 { return u(x.st.Retries) }},
	{name: "haproxy_backend_active_servers", typ: typeGauge, help: "Number of up active (non-backup) servers.",
		value: func(_ *snapshot, x *beRow) float64 { return float64(upServers(x.be, false)) }},
	{name: "haproxy_backend_backup_servers", typ: typeGauge, help: "Number of up backup servers.",
		value: func(_ *snapshot, x *beRow) float64 { return float64(upServers(x.be, true)) }},
	{name: "haproxy_backend_weight", typ: typeGauge, help: "Service weight: the sum of the weights of the servers that take traffic.",
		value: func(_ *snapshot, x *beRow) float64 { return float64(backendWeight(x.be)) }},
	{name: "bareproxy_backend_no_server_total", typ: typeCounter, help: "Total number of sessions closed because no server of the backend was available.",
		value: func(_ *snapshot, x *beRow) float64 { return u(x.st.NoServer) }},
}

var serverFamilies = []family[srvRow]{
	{name: "haproxy_server_status", typ: typeGauge, help: "Current status of the server.",
		states: serverStates, state: func(x *srvRow) string { return serverState(x.srv) }},
	{name: "haproxy_server_current_sessions", typ: typeGauge, help: "Number of current sessions.",
		value: func(_ *snapshot, x *srvRow) float64 { return float64(x.st.Cur) }},
	{name: "haproxy_server_limit_sessions", typ: typeGauge, help: "Configured session limit (maxconn; 0 means none).",
		value: func(_ *snapshot, x *srvRow) float64 { return float64(x.srv.Config.MaxConn) }},
	{name: "haproxy_server_sessions_total", typ: typeCounter, help: "Total number of sessions.",
		value: func(_ *snapshot, x *srvRow) float64 { return u(x.st.Conns) }},
	{name: "haproxy_server_bytes_in_total", typ: typeCounter, help: "Total number of request bytes received from clients.",
		value: func(_ *snapshot, x *srvRow) float64 { return u(x.st.BytesIn) }},
	{name: "haproxy_server_bytes_out_total", typ: typeCounter, help: "Total number of response bytes sent to clients.",
		value: func(_ *snapshot, x *srvRow) float64 { return u(x.st.BytesOut) }},
	{name: "haproxy_server_connection_errors_total", typ: typeCounter, help: "Total number of failed connection attempts to the server.",
		value: func(_ *snapshot, x *srvRow) float64 { return u(x.st.ConnectErrors) }},
	{name: "haproxy_server_retry_warnings_total", typ: typeCounter, help: "Total number of connection retries.",
		value: func(_ *snapshot, x *srvRow) float64 { return u(x.st.Retries) }},
	{name: "haproxy_server_weight", typ: typeGauge, help: "Server's configured weight.",
		value: func(_ *snapshot, x *srvRow) float64 { return float64(x.srv.Config.Weight) }},
	{name: "haproxy_server_active", typ: typeGauge, help: "1 for an active server, 0 for a backup.",
		value: func(_ *snapshot, x *srvRow) float64 { return b2f(!x.srv.Config.Backup) }},
	{name: "haproxy_server_backup", typ: typeGauge, help: "1 for a backup server, 0 for an active one.",
		value: func(_ *snapshot, x *srvRow) float64 { return b2f(x.srv.Config.Backup) }},
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// coreRow is one core's network figures with its label.
type coreRow struct {
	c   *CoreSample
	lbl []string
}

func coreFamily(name, typ, help string, f func(c *CoreSample) uint64) family[coreRow] {
	return family[coreRow]{name: name, typ: typ, help: help,
		value: func(_ *snapshot, x *coreRow) float64 { return u(f(x.c)) }}
}

var coreFamilies = []family[coreRow]{
	coreFamily("bareproxy_core_frames_received_total", typeCounter, "Frames received from the core's NIC queue.", func(c *CoreSample) uint64 { return c.FramesIn }),
	coreFamily("bareproxy_core_frames_transmitted_total", typeCounter, "Frames transmitted on the core's NIC queue.", func(c *CoreSample) uint64 { return c.FramesOut }),
	coreFamily("bareproxy_core_frames_dropped_total", typeCounter, "Frames dropped by the core: malformed or unsupported, failed transmits, full inboxes.", func(c *CoreSample) uint64 { return c.Drops }),
	coreFamily("bareproxy_core_steering_misses_total", typeCounter, "Frames that arrived on this core but belong to another core's connections.", func(c *CoreSample) uint64 { return c.SteeringMisses }),
	coreFamily("bareproxy_core_connections_accepted_total", typeCounter, "Connections accepted by the core's stack.", func(c *CoreSample) uint64 { return c.Accepted }),
	coreFamily("bareproxy_core_connections_dialled_total", typeCounter, "Connections dialled from the core's stack.", func(c *CoreSample) uint64 { return c.Dialled }),
	coreFamily("bareproxy_core_established_connections", typeGauge, "Connections in ESTABLISHED or CLOSE_WAIT on the core's stack.", func(c *CoreSample) uint64 { return c.Established }),
	coreFamily("bareproxy_core_malformed_frames_total", typeCounter, "Frames the core's stack could not parse.", func(c *CoreSample) uint64 { return c.Malformed }),
	coreFamily("bareproxy_core_unsupported_frames_total", typeCounter, "Well-formed frames of protocols the appliance does not speak (IPv6, VLAN tags, other EtherTypes).", func(c *CoreSample) uint64 { return c.Unsupported }),
	coreFamily("bareproxy_core_frames_not_for_us_total", typeCounter, "Unicast frames for another MAC address.", func(c *CoreSample) uint64 { return c.NotForUs }),
	coreFamily("bareproxy_core_icmp_errors_total", typeCounter, "ICMP errors delivered to the core.", func(c *CoreSample) uint64 { return c.ICMPErrors }),
	coreFamily("bareproxy_core_transmit_errors_total", typeCounter, "Frames the core's link did not send.", func(c *CoreSample) uint64 { return c.TxErrors }),
	coreFamily("bareproxy_core_dials_total", typeCounter, "Dial calls on the core (TCP and UDP).", func(c *CoreSample) uint64 { return c.Dials }),
	coreFamily("bareproxy_core_dial_failures_total", typeCounter, "Dial calls on the core that failed.", func(c *CoreSample) uint64 { return c.DialFailures }),
	coreFamily("bareproxy_core_bind_attempts_total", typeCounter, "Local ports tried by dials; ideally one per dial.", func(c *CoreSample) uint64 { return c.BindAttempts }),
	coreFamily("bareproxy_core_ports_exhausted_total", typeCounter, "Dials that found no free local port steering back to the core.", func(c *CoreSample) uint64 { return c.PortsExhausted }),
	coreFamily("bareproxy_core_resets_sent_total", typeCounter, "TCP resets sent by the core's stack.", func(c *CoreSample) uint64 { return c.ResetsSent }),
	coreFamily("bareproxy_core_resets_received_total", typeCounter, "TCP resets received by the core's stack.", func(c *CoreSample) uint64 { return c.ResetsReceived }),
	coreFamily("bareproxy_core_tcp_retransmits_total", typeCounter, "TCP segments the core's engine sent again, on timeout or fast retransmit.", func(c *CoreSample) uint64 { return c.Retransmits }),
	coreFamily("bareproxy_core_tcp_timeouts_total", typeCounter, "TCP connections the core's engine gave up after repeated timeouts.", func(c *CoreSample) uint64 { return c.TCPTimeouts }),
	coreFamily("bareproxy_core_spliced_bytes_total", typeCounter, "Bytes the core's TCP engine moved between spliced connections itself (mode tcp).", func(c *CoreSample) uint64 { return c.SplicedBytes }),
	coreFamily("bareproxy_core_tso_segments_total", typeCounter, "TCP segments sent for the device to cut into MSS-sized ones (segmentation offload).", func(c *CoreSample) uint64 { return c.TSOSegments }),
}

// perCore is one engine figure of an object on each core.
type perCore struct {
	name, typ, help string
	value           func(c *proxy.Counters) float64
}

var objectCoreFamilies = []perCore{
	{"current_sessions", typeGauge, "Number of current sessions on each core.", func(c *proxy.Counters) float64 { return float64(c.Cur) }},
	{"sessions_total", typeCounter, "Total number of sessions on each core.", func(c *proxy.Counters) float64 { return u(c.Conns) }},
}

// writePerCore writes the engine's per-core counters of frontends,
// backends and servers: bareproxy_{frontend,backend,server}_core_*.
func (s *snapshot) writePerCore(e *expo) {
	var scratch [8]string
	write := func(name string, pc perCore, lbl []string, cs []proxy.Counters) {
		n := copy(scratch[:], lbl)
		for k := range cs {
			if k >= len(s.coreIDs) {
				break
			}
			scratch[n], scratch[n+1] = "core", s.coreIDs[k]
			e.sample(name, scratch[:n+2], pc.value(&cs[k]))
		}
	}
	for _, pc := range objectCoreFamilies {
		if len(s.fes) > 0 {
			name := "bareproxy_frontend_core_" + pc.name
			e.family(name, pc.typ, pc.help)
			for _, f := range s.fes {
				write(name, pc, f.lbl, f.st.PerCore)
			}
		}
		if len(s.bes) > 0 {
			name := "bareproxy_backend_core_" + pc.name
			e.family(name, pc.typ, pc.help)
			for _, b := range s.bes {
				write(name, pc, b.lbl, b.st.PerCore)
			}
		}
		if len(s.srvs) > 0 {
			name := "bareproxy_server_core_" + pc.name
			e.family(name, pc.typ, pc.help)
			for _, sv := range s.srvs {
				write(name, pc, sv.lbl, sv.st.PerCore)
			}
		}
	}
}

// writeProm writes every family in the fixed order: process, frontends,
// backends, servers, engine per-core counters, network per-core counters.
func (s *snapshot) writeProm(e *expo) {
	s.writeProcess(e)
	feLbl := func(x *feRow) []string { return x.lbl }
	beLbl := func(x *beRow) []string { return x.lbl }
	srvLbl := func(x *srvRow) []string { return x.lbl }
	writeFamilies(e, s, frontendFamilies, s.fes, feLbl)
	writeFamilies(e, s, frontendHTTPFamilies, s.fes, feLbl)
	writeFamilies(e, s, backendFamilies, s.bes, beLbl)
	writeFamilies(e, s, backendHTTPFamilies, s.bes, beLbl)
	writeFamilies(e, s, serverFamilies, s.srvs, srvLbl)
	writeFamilies(e, s, serverHTTPFamilies, s.srvs, srvLbl)
	writeFamilies(e, s, serverCheckFamilies, s.srvs, srvLbl)
	s.writePerCore(e)
	rows := make([]coreRow, len(s.cores))
	for k := range s.cores {
		rows[k] = coreRow{c: &s.cores[k], lbl: []string{"core", s.coreIDs[k]}}
	}
	writeFamilies(e, s, coreFamilies, rows, func(x *coreRow) []string { return x.lbl })
}
