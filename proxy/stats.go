package proxy

import "github.com/bareproxy/bareproxy/proxy/health"

// Stats is a snapshot of the engine's counters, aggregated over cores.
type Stats struct {
	// Cur is connections open now across every frontend.
	Cur int64
	// Frontends and Backends follow configuration order.
	Frontends []FrontendStats
	Backends  []BackendStats
}

// FrontendStats are one frontend's counters.
type FrontendStats struct {
	Name string
	Counters
	// PerCore are the same counters for each core, to spot imbalance.
	PerCore []Counters
}

// BackendStats are one backend's counters and its servers'.
type BackendStats struct {
	Name string
	Counters
	PerCore []Counters
	Servers []ServerStats
}

// ServerStats are one server's counters.
type ServerStats struct {
	Name string
	// Up is whether the server takes traffic.
	Up bool
	// Status is HAProxy's status column: "UP", "UP 1/3", "DOWN", "DOWN
	// 1/2", "MAINT" or "no check" (see Server.Status).
	Status string
	// Check is the health check's state and counters; nil without check.
	Check *health.Stats
	Counters
	PerCore []Counters
}

// Stats reads every counter once. It takes no lock and may run at any time.
func (p *Proxy) Stats() Stats {
	var st Stats
	for _, f := range p.frontends {
		fs := FrontendStats{Name: f.Name()}
		fs.Counters, fs.PerCore = sum(f.counters)
		st.Cur += fs.Cur
		st.Frontends = append(st.Frontends, fs)
	}
	for _, b := range p.backends {
		bs := BackendStats{Name: b.Name()}
		bs.Counters, bs.PerCore = sum(b.counters)
		for _, s := range b.Servers {
			ss := ServerStats{Name: s.Name(), Up: s.Up(), Status: s.Status(), Check: s.CheckStats()}
			ss.Counters, ss.PerCore = sum(s.counters)
			bs.Servers = append(bs.Servers, ss)
		}
		st.Backends = append(st.Backends, bs)
	}
	return st
}
