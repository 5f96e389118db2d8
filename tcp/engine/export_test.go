package engine

// The kernel test is in the external package engine_test: it opens TAP
// devices with board/hosted, which imports package tcp, which imports this
// package. These are the internal test helpers it shares.
var (
	Pattern       = pattern
	CommonPrefix  = commonPrefix
	CheckExchange = checkExchange
	Duplex        = duplex
	WaitQuiet     = waitQuiet
)

// EchoHandler is echoHandler for the kernel test.
type EchoHandler = echoHandler

var NewEchoHandler = newEchoHandler

func (h *echoHandler) Err() error     { return h.err() }
func (h *echoHandler) Blocked() int64 { return h.blocked.Load() }
