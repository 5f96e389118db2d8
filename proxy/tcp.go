package proxy

import (
	"errors"
)

// tcpHandler serves mode tcp frontends: route by use_backend rules (L4
// fetches only), connect, splice, log.
type tcpHandler struct {
	p  *Proxy
	fe *Frontend
}

func newTCPHandler(p *Proxy, fe *Frontend) (Handler, error) {
	return &tcpHandler{p: p, fe: fe}, nil
}

// Serve implements Handler.
func (h *tcpHandler) Serve(s *Session) {
	defer s.Client.Close()
	e := connLog{s: s, tc: -1, term: [2]byte{'-', '-'}}
	if h.fe.Config.Log.Enabled() && !h.fe.Config.Options.TCPLog && !h.fe.Config.Options.HTTPLog {
		h.p.logConnect(s)
	}
	be := Route(h.fe, &Sample{Src: s.Src.Addr(), DstPort: s.Dst.Port()})
	if be == nil {
		h.fe.counters[s.Core].noServer.Add(1)
		e.term = [2]byte{'P', 'R'}
		h.p.logTCP(&e)
		return
	}
	e.be = be
	up, err := s.Connect(be, nil)
	if err != nil {
		e.term = [2]byte{'S', 'C'}
		var ce *ConnectError
		if errors.As(err, &ce) {
			e.srv, e.retries = ce.Last, ce.Tries-1
			if ce.Timeout {
				e.term[0] = 's'
			}
		}
		if s.Killed() {
			e.term[0] = 'K'
		}
		h.p.logTCP(&e)
		return
	}
	e.srv, e.retries, e.tc, e.connected = up.Server, up.Retries, up.ConnectTime, true
	res := s.Splice(up)
	e.bytesIn, e.bytesOut, e.term = res.BytesIn, res.BytesOut, res.Term
	h.p.logTCP(&e)
	up.Close()
}

// Route returns the backend for a connection: the first use_backend rule
// whose condition matches smp, else the default backend, else nil.
func Route(fe *Frontend, smp *Sample) *Backend {
	for _, r := range fe.Rules {
		if EvalCondition(r.Cond, fe.Config.ACLs, smp) {
			return r.Backend
		}
	}
	return fe.Default
}
