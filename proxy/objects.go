package proxy

import (
	"sync/atomic"

	"github.com/bareproxy/bareproxy/proxy/config"
	"github.com/bareproxy/bareproxy/proxy/health"
)

// counters are one object's statistics on one core. Each core writes its
// own copy with atomics; readers add the cores up. The padding keeps cores
// off each other's cache lines.
type counters struct {
	conns      atomic.Uint64 // connections started
	cur        atomic.Int64  // connections open now
	bytesIn    atomic.Uint64 // bytes from clients (requests)
	bytesOut   atomic.Uint64 // bytes to clients (responses)
	connectErr atomic.Uint64 // failed connects to servers
	retries    atomic.Uint64 // connect retries
	noServer   atomic.Uint64 // connections dropped for want of a server

	// mode http (zero in mode tcp).
	requests   atomic.Uint64    // HTTP requests received (frontend) or forwarded (backend, server)
	rsp        [6]atomic.Uint64 // responses to clients by class: 1xx..5xx, then other
	denied     atomic.Uint64    // requests denied by http-request deny
	invalid    atomic.Uint64    // malformed requests (answered 400/408/431/501/505)
	failedRsp  atomic.Uint64    // bad or missing server responses (502/504)
	connects   atomic.Uint64    // new server connections dialled for requests
	reuses     atomic.Uint64    // requests sent over a pooled server connection
	queueCur   atomic.Int64     // requests waiting in the queue now
	queueMax   atomic.Int64     // most requests ever waiting at once on the core
	queueTmo   atomic.Uint64    // requests that left the queue on timeout queue
	intercepts atomic.Uint64    // requests answered by the proxy itself (stats, redirect, monitor)
	_          [24]byte
}

// Counters is a plain snapshot of an object's statistics, summed over
// cores or for one core.
type Counters struct {
	// Conns counts connections started (accepted for a frontend, served
	// for a backend or server).
	Conns uint64
	// Cur is how many are open now.
	Cur int64
	// BytesIn counts bytes received from clients.
	BytesIn uint64
	// BytesOut counts bytes sent to clients.
	BytesOut uint64
	// ConnectErrors counts failed connection attempts to servers.
	ConnectErrors uint64
	// Retries counts connection attempts after the first.
	Retries uint64
	// NoServer counts connections closed because no server was available
	// (none up, all full, or no backend matched).
	NoServer uint64

	// The fields below count mode http only; they are zero in mode tcp.

	// Requests counts HTTP requests: received by a frontend, forwarded to
	// a backend or server.
	Requests uint64
	// Responses counts responses sent to clients by status class:
	// Responses[0] is 1xx ... Responses[4] is 5xx, Responses[5] any other.
	// Proxy-generated answers (400, 403, 503...) count at the frontend and,
	// once a backend was chosen, at the backend.
	Responses [6]uint64
	// Denied counts requests refused by an http-request deny rule.
	Denied uint64
	// InvalidRequests counts malformed or timed-out requests (frontend).
	InvalidRequests uint64
	// FailedResponses counts invalid, missing or timed-out server
	// responses (502 and 504).
	FailedResponses uint64
	// Connects counts new server connections dialled for HTTP requests.
	Connects uint64
	// Reuses counts requests sent over an idle pooled server connection.
	Reuses uint64
	// QueueCur is how many requests wait for a server slot now.
	QueueCur int64
	// QueueMax is the highest QueueCur seen on a core (the sum over cores
	// in totals).
	QueueMax int64
	// QueueTimeouts counts requests that waited timeout queue and got 503.
	QueueTimeouts uint64
	// Intercepted counts requests answered by the proxy itself: stats
	// page, Prometheus exporter, monitor-uri, redirects.
	Intercepted uint64
}

func (c *counters) snapshot() Counters {
	s := Counters{
		Conns: c.conns.Load(), Cur: c.cur.Load(), BytesIn: c.bytesIn.Load(), BytesOut: c.bytesOut.Load(),
		ConnectErrors: c.connectErr.Load(), Retries: c.retries.Load(), NoServer: c.noServer.Load(),
		Requests: c.requests.Load(), Denied: c.denied.Load(), InvalidRequests: c.invalid.Load(),
		FailedResponses: c.failedRsp.Load(), Connects: c.connects.Load(), Reuses: c.reuses.Load(),
		QueueCur: c.queueCur.Load(), QueueMax: c.queueMax.Load(), QueueTimeouts: c.queueTmo.Load(),
		Intercepted: c.intercepts.Load(),
	}
	for i := range s.Responses {
		s.Responses[i] = c.rsp[i].Load()
	}
	return s
}

func (c *Counters) add(o Counters) {
	c.Conns += o.Conns
	c.Cur += o.Cur
	c.BytesIn += o.BytesIn
	c.BytesOut += o.BytesOut
	c.ConnectErrors += o.ConnectErrors
	c.Retries += o.Retries
	c.NoServer += o.NoServer
	c.Requests += o.Requests
	for i := range c.Responses {
		c.Responses[i] += o.Responses[i]
	}
	c.Denied += o.Denied
	c.InvalidRequests += o.InvalidRequests
	c.FailedResponses += o.FailedResponses
	c.Connects += o.Connects
	c.Reuses += o.Reuses
	c.QueueCur += o.QueueCur
	c.QueueMax += o.QueueMax
	c.QueueTimeouts += o.QueueTimeouts
	c.Intercepted += o.Intercepted
}

// sum adds up per-core counters.
func sum(cs []counters) (total Counters, perCore []Counters) {
	perCore = make([]Counters, len(cs))
	for i := range cs {
		perCore[i] = cs[i].snapshot()
		total.add(perCore[i])
	}
	return total, perCore
}

func sumCur(cs []counters) int64 {
	var n int64
	for i := range cs {
		n += cs[i].cur.Load()
	}
	return n
}

// Frontend is a running frontend.
type Frontend struct {
	// Config is the frontend's configuration; read only.
	Config *config.Frontend
	// Default is the default_backend, or nil.
	Default *Backend
	// Rules are the use_backend rules with their backends resolved.
	Rules []BackendRule

	handler  Handler
	counters []counters // per core
	slots    []chan struct{}
}

// BackendRule is a use_backend rule with its backend resolved.
type BackendRule struct {
	Backend *Backend
	Cond    *config.Condition
}

// Name returns the frontend's name.
func (f *Frontend) Name() string { return f.Config.Name }

// Backend is a running backend.
type Backend struct {
	// Config is the backend's configuration; read only.
	Config *config.Backend
	// Servers are the servers in configuration order.
	Servers []*Server

	lb       []balancer   // per core
	counters []counters   // per core
	http     *backendHTTP // mode http pools and queues (http_pool.go); nil until a mode http frontend exists
}

// Name returns the backend's name.
func (b *Backend) Name() string { return b.Config.Name }

// Server is a running server.
type Server struct {
	// Config is the server's configuration; read only.
	Config *config.Server
	// Backend is the backend the server belongs to.
	Backend *Backend
	// Index is the server's position in Backend.Servers.
	Index int

	up       atomic.Bool                    // read-mostly: set by health checks and the admin
	counters []counters                     // per core
	hc       atomic.Pointer[health.Checker] // nil without "check"; see checks.go
}

// Name returns the server's name.
func (s *Server) Name() string { return s.Config.Name }

// Up reports whether the server takes traffic.
func (s *Server) Up() bool { return s.up.Load() }

// SetUp marks the server up or down; health checks and the stats page call
// it. It is safe from any goroutine.
func (s *Server) SetUp(up bool) { s.up.Store(up) }

// full reports whether the server is at its maxconn.
func (s *Server) full() bool {
	m := s.Config.MaxConn
	return m > 0 && sumCur(s.counters) >= int64(m)
}
