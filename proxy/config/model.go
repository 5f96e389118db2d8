package config

import (
	"net"
	"net/netip"
	"regexp"
	"time"
)

// Config is one parsed and validated configuration. Parse resolves defaults
// inheritance, so every Frontend and Backend carries its effective settings
// and nothing else needs to consult a defaults section.
type Config struct {
	// File is the name the configuration was parsed under; it prefixes
	// every error and warning.
	File string
	// Global holds the global section. Its zero value means no global
	// section was given.
	Global Global
	// Network holds the appliance's network section. Its zero value means
	// no network section was given; the board then decides.
	Network Network
	// Frontends lists frontends in file order, including the frontend half
	// of each listen section. Validation guarantees at least one.
	Frontends []*Frontend
	// Backends lists backends in file order, including the backend half of
	// each listen section.
	Backends []*Backend
}

// Global is the global section.
type Global struct {
	// NbThread is nbthread: how many cores to use. Zero means not set (all
	// cores, unless Network.Cores says otherwise).
	NbThread int
	// MaxConn is the process-wide connection limit. Zero means no limit.
	MaxConn int
	// BufSize is tune.bufsize in bytes. Zero means the engine's default
	// (32 KiB).
	BufSize int
	// Logs are the global log targets that "log global" refers to. Empty
	// means none.
	Logs []LogTarget
}

// Network is the appliance-specific network section (not in HAProxy).
type Network struct {
	// DHCP is true for "address dhcp"; Address is then invalid.
	DHCP bool
	// Address is the static interface address with its prefix length. The
	// zero (invalid) Prefix means none was given, or DHCP is set.
	Address netip.Prefix
	// Gateway is the default router. The zero (invalid) Addr means none.
	Gateway netip.Addr
	// MAC is the interface's hardware address. Nil means use the NIC's own
	// (or a generated one).
	MAC net.HardwareAddr
	// Cores is how many cores to use. Zero means all (or Global.NbThread
	// when that is set).
	Cores int
	// Line is the line of the network section header; zero if absent.
	Line int
}

// Cores returns the core count the configuration asks for: network cores,
// else global nbthread, else zero (all cores). Validation rejects the two
// disagreeing.
func (c *Config) Cores() int {
	if c.Network.Cores > 0 {
		return c.Network.Cores
	}
	return c.Global.NbThread
}

// Frontend returns the frontend called name, or nil.
func (c *Config) Frontend(name string) *Frontend {
	for _, f := range c.Frontends {
		if f.Name == name {
			return f
		}
	}
	return nil
}

// Backend returns the backend called name, or nil.
func (c *Config) Backend(name string) *Backend {
	for _, b := range c.Backends {
		if b.Name == name {
			return b
		}
	}
	return nil
}

// LogKind says where a log target sends its lines.
type LogKind int

// Log target kinds.
const (
	// LogUDP sends RFC 3164 syslog datagrams to LogTarget.Addr.
	LogUDP LogKind = iota
	// LogStdout writes lines to standard output (the console).
	LogStdout
	// LogStderr writes lines to standard error (the console).
	LogStderr
	// LogUnix sends to a Unix socket path; kept so configs carried over
	// from a Linux host parse, but the appliance has no Unix sockets.
	LogUnix
)

// LogTarget is one "log" line.
type LogTarget struct {
	// Kind is the transport; the zero value is UDP.
	Kind LogKind
	// Addr is the syslog server for LogUDP; the port defaults to 514.
	Addr netip.AddrPort
	// Path is the socket path for LogUnix.
	Path string
	// MaxLen is "len N", the longest line sent. Zero means 1024, HAProxy's
	// default.
	MaxLen int
	// Format is "format NAME" (rfc3164, rfc5424, short, raw, ...). Empty
	// means rfc3164.
	Format string
	// Facility is the syslog facility code, 0 (kern) to 23 (local7).
	Facility int
	// Level is the most verbose level sent, 0 (emerg) to 7 (debug). Parse
	// sets 7 when the line names none, as HAProxy does.
	Level int
	// MinLevel is the least verbose level: more severe messages are
	// clamped to it. Zero (emerg) means no clamping.
	MinLevel int
	// Line is the source line.
	Line int
}

// Mode is a proxy's mode.
type Mode int

// Proxy modes.
const (
	// ModeTCP is plain L4 forwarding; it is HAProxy's default.
	ModeTCP Mode = iota
	// ModeHTTP parses HTTP/1.1 (the L7 engine).
	ModeHTTP
)

// String returns the keyword for m.
func (m Mode) String() string {
	if m == ModeHTTP {
		return "http"
	}
	return "tcp"
}

// Timeouts are the "timeout" lines. Each zero value means not set, which in
// HAProxy means no timeout at all.
type Timeouts struct {
	Connect       time.Duration // timeout connect: dial to a server
	Client        time.Duration // timeout client: client-side inactivity
	Server        time.Duration // timeout server: server-side inactivity
	HTTPRequest   time.Duration // timeout http-request: whole request header
	HTTPKeepAlive time.Duration // timeout http-keep-alive: idle between requests
	Queue         time.Duration // timeout queue: waiting for a server slot
	Tunnel        time.Duration // timeout tunnel: inactivity once tunnelled; overrides client and server
	Check         time.Duration // timeout check: health check read after connect
	ClientFin     time.Duration // timeout client-fin: half-closed client side
	ServerFin     time.Duration // timeout server-fin: half-closed server side
	Tarpit        time.Duration // timeout tarpit
}

// ProxyLog is a proxy's logging: "log global", its own "log" lines, or
// "no log".
type ProxyLog struct {
	// Global is "log global": use Global.Logs.
	Global bool
	// Targets are the proxy's own log lines.
	Targets []LogTarget
}

// Enabled reports whether the proxy logs at all.
func (l ProxyLog) Enabled() bool { return l.Global || len(l.Targets) > 0 }

// Options are the "option" lines a proxy can carry. Each false or nil
// field means the option is off.
type Options struct {
	HTTPLog         bool        // option httplog
	HTTPLogCLF      bool        // option httplog clf
	TCPLog          bool        // option tcplog (set instead of HTTPLog in tcp mode)
	DontLogNull     bool        // option dontlognull: skip connections that moved no data
	HTTPServerClose bool        // option http-server-close
	HTTPKeepAlive   bool        // option http-keep-alive (HAProxy's default behaviour)
	HTTPClose       bool        // option httpclose
	Redispatch      bool        // option redispatch: retry on another server
	ForwardFor      *ForwardFor // option forwardfor; nil means off
	HTTPCheck       *HTTPCheck  // option httpchk; nil means TCP connect checks
}

// ForwardFor is "option forwardfor [except NET] [header NAME] [if-none]".
type ForwardFor struct {
	// Except skips clients in this network. The zero Prefix means none.
	Except netip.Prefix
	// Header is the header name. Parse sets "X-Forwarded-For" when absent.
	Header string
	// IfNone adds the header only when the request has none.
	IfNone bool
}

// HTTPCheck is "option httpchk [METHOD] [URI] [VERSION]" plus
// "http-check expect". Parse fills HAProxy's defaults: OPTIONS, "/" and
// HTTP/1.0.
type HTTPCheck struct {
	Method  string
	URI     string
	Version string
	// Expect is the response test; nil means any 2xx or 3xx status.
	Expect *CheckExpect
}

// CheckExpect is "http-check expect [!] status|string VALUE".
type CheckExpect struct {
	// Negate is the "!" prefix.
	Negate bool
	// Statuses are the accepted status ranges for "status"; each is
	// [low, high]. Empty for "string".
	Statuses [][2]int
	// String is the body substring for "string"; empty for "status".
	String string
}

// Reuse is "http-reuse".
type Reuse int

// http-reuse values; the zero value is HAProxy's default, safe.
const (
	ReuseSafe Reuse = iota
	ReuseNever
	ReuseAggressive
	ReuseAlways
)

// Algorithm is a load-balancing algorithm.
type Algorithm int

// Balance algorithms; the zero value is roundrobin, HAProxy's default.
const (
	RoundRobin Algorithm = iota
	StaticRR
	LeastConn
	First
	Source
	URI
	URLParam
	Header
	Random
)

var algorithmNames = []string{"roundrobin", "static-rr", "leastconn", "first", "source", "uri", "url_param", "hdr", "random"}

// String returns the keyword for a.
func (a Algorithm) String() string {
	if int(a) < len(algorithmNames) {
		return algorithmNames[a]
	}
	return "unknown"
}

// Balance is the "balance" line.
type Balance struct {
	// Algorithm is the algorithm; zero is roundrobin.
	Algorithm Algorithm
	// Arg is the header name for hdr(NAME) (lower case), the parameter for
	// url_param, and empty otherwise.
	Arg string
	// Draws is the draw count of "random(N)"; zero means 2.
	Draws int
}

// Settings are everything a defaults section can carry. Frontend and Backend
// embed them; each starts as a copy of the last preceding defaults section.
type Settings struct {
	// Mode is tcp (zero, HAProxy's default) or http.
	Mode Mode
	// Timeouts are the timeout lines.
	Timeouts Timeouts
	// MaxConn is maxconn: for a frontend, concurrent connections before it
	// stops accepting. Zero means the global maxconn applies.
	MaxConn int
	// Retries is how many times a failed connect is retried. Parse starts
	// from HAProxy's default, 3; zero means no retry.
	Retries int
	// Log is the proxy's logging; the zero value logs nothing.
	Log ProxyLog
	// Options are the option lines.
	Options Options
	// HTTPReuse is http-reuse; zero is safe.
	HTTPReuse Reuse
	// Balance is the backend's balancing; zero is roundrobin.
	Balance Balance
	// DefaultServer holds the default-server keywords that each server line
	// starts from. Parse starts it from HAProxy's defaults (weight 1,
	// inter 2s, rise 2, fall 3).
	DefaultServer Server
}

// Frontend is a frontend section, or the frontend half of a listen section.
type Frontend struct {
	// Name is the section name.
	Name string
	// Line is the section header's line.
	Line int
	// Listen is true when the frontend comes from a listen section; its
	// DefaultBackend is then the listen's own backend half.
	Listen bool
	Settings
	// Binds are the bind lines' addresses, one entry per address.
	Binds []Bind
	// DefaultBackend is default_backend. Empty means connections matching
	// no use_backend rule are refused.
	DefaultBackend string
	// defaultBackendLine is where DefaultBackend was set, for messages.
	defaultBackendLine int
	// UseBackends are the use_backend rules in order.
	UseBackends []UseBackend
	// ACLs are the named ACLs in order of first declaration.
	ACLs []*ACL
	// HTTPRequest are the http-request rules in order.
	HTTPRequest []Rule
	// HTTPResponse are the http-response rules in order.
	HTTPResponse []Rule
	// Stats is the stats page; the zero value is off.
	Stats Stats
	// MonitorURI is monitor-uri. Empty means none.
	MonitorURI string
}

// Bind is one listening address of a bind line.
type Bind struct {
	// Addr is the address and port; 0.0.0.0 means every address.
	Addr netip.AddrPort
	// AcceptProxy is accept-proxy: each connection starts with a PROXY
	// protocol header (v1 or v2).
	AcceptProxy bool
	// Name is "name NAME"; empty means none.
	Name string
	// MaxConn is the bind's maxconn; zero means the frontend's applies.
	MaxConn int
	// Line is the source line.
	Line int
}

// UseBackend is a use_backend rule.
type UseBackend struct {
	// Backend is the backend's name.
	Backend string
	// Cond is the condition; nil means always.
	Cond *Condition
	// Line is the source line.
	Line int
}

// Backend is a backend section, or the backend half of a listen section.
type Backend struct {
	// Name is the section name.
	Name string
	// Line is the section header's line.
	Line int
	// Listen is true when the backend comes from a listen section.
	Listen bool
	Settings
	// Servers are the server lines in order.
	Servers []Server
	// ACLs are the named ACLs in order of first declaration.
	ACLs []*ACL
	// HTTPRequest are the http-request rules in order.
	HTTPRequest []Rule
	// HTTPResponse are the http-response rules in order.
	HTTPResponse []Rule
}

// Server is a server line (or the default-server template).
type Server struct {
	// Name is the server's name; empty for default-server.
	Name string
	// Addr is the server's IPv4 address and port; zero for default-server.
	Addr netip.AddrPort
	// Weight is the balancing weight, 0 to 256. Zero means the server gets
	// no load-balanced traffic. Parse starts from 1.
	Weight int
	// Check turns on health checks.
	Check bool
	// Inter is the check interval. Parse starts from 2s.
	Inter time.Duration
	// FastInter is the interval while changing state; zero means Inter.
	FastInter time.Duration
	// DownInter is the interval while down; zero means Inter.
	DownInter time.Duration
	// Rise is how many passing checks bring the server up. Parse starts
	// from 2.
	Rise int
	// Fall is how many failing checks take it down. Parse starts from 3.
	Fall int
	// CheckPort is "port N" for checks; zero means the server's port.
	CheckPort uint16
	// Backup marks a server used only when no non-backup server is up.
	Backup bool
	// MaxConn is the server's connection limit; zero means none.
	MaxConn int
	// SendProxy sends a PROXY protocol v1 header on connect.
	SendProxy bool
	// SendProxyV2 sends a PROXY protocol v2 header on connect.
	SendProxyV2 bool
	// Disabled starts the server in maintenance.
	Disabled bool
	// Line is the source line.
	Line int
}

// ACL is one named ACL: the OR of all its declaring lines, as in HAProxy.
type ACL struct {
	// Name is the ACL's name.
	Name string
	// Tests are the declaring lines; the ACL matches if any matches.
	Tests []ACLTest
}

// Fetch names what an ACL test looks at.
type Fetch int

// Fetches.
const (
	FetchHeader  Fetch = iota // hdr(NAME): a request header, Arg is its lower-case name
	FetchPath                 // path: the URL path without query
	FetchURL                  // url: the whole request target
	FetchMethod               // method: the request method
	FetchSrc                  // src: the client's IPv4 address
	FetchDstPort              // dst_port: the port the client connected to
	FetchAlways               // always_true / always_false; see Match
)

// Match is how an ACL test compares a fetched value to its patterns.
type Match int

// Match methods ("-m" names).
const (
	MatchStr   Match = iota // exact string
	MatchBeg                // prefix
	MatchEnd                // suffix
	MatchSub                // substring
	MatchReg                // regular expression
	MatchDom                // domain: pattern is a dot-delimited word sequence
	MatchDir                // directory: pattern is a slash-delimited word sequence
	MatchIP                 // IPv4 address or network
	MatchInt                // integer or range
	MatchFound              // the value exists
	MatchTrue               // always true (always_true)
	MatchFalse              // always false (always_false)
)

// ACLTest is one ACL line (or an anonymous "{ ... }" ACL).
type ACLTest struct {
	// Fetch is the sample fetched.
	Fetch Fetch
	// Arg is the fetch's argument: the header name (lower case) for hdr.
	Arg string
	// Match is the comparison.
	Match Match
	// IgnoreCase is the -i flag.
	IgnoreCase bool
	// Values are the patterns as written (for MatchStr..MatchDir).
	Values []string
	// Prefixes are the networks for MatchIP; a bare address is a /32.
	Prefixes []netip.Prefix
	// Ranges are the integer ranges for MatchInt, inclusive.
	Ranges [][2]int64
	// Regexps are Values compiled for MatchReg.
	Regexps []*regexp.Regexp
	// Line is the source line.
	Line int
}

// Condition is "if COND" or "unless COND": an OR of AND-terms.
type Condition struct {
	// Unless inverts the whole condition.
	Unless bool
	// Or lists the alternatives; each alternative is an AND of terms.
	Or [][]Term
}

// Term is one ACL reference in a condition.
type Term struct {
	// Negate is the "!" prefix.
	Negate bool
	// ACL is the named ACL; empty when Anon is set.
	ACL string
	// Anon is an anonymous ACL written inline as "{ fetch values }".
	Anon *ACLTest
}

// Action is an http-request or http-response action.
type Action int

// Actions.
const (
	ActionAllow      Action = iota // allow: stop evaluating, let it through
	ActionDeny                     // deny [deny_status N]
	ActionRedirect                 // redirect location|prefix|scheme ...
	ActionSetHeader                // set-header NAME FMT
	ActionAddHeader                // add-header NAME FMT
	ActionDelHeader                // del-header NAME
	ActionUseService               // use-service NAME (http-request only)
)

// ServicePrometheus is the one use-service name the engine serves:
// "http-request use-service prometheus-exporter", HAProxy's exporter.
const ServicePrometheus = "prometheus-exporter"

// RedirectKind is what a redirect rewrites.
type RedirectKind int

// Redirect kinds.
const (
	RedirectLocation RedirectKind = iota // location: the whole Location
	RedirectPrefix                       // prefix: prepended to the path
	RedirectScheme                       // scheme: replaces the scheme
)

// Rule is one http-request or http-response rule.
type Rule struct {
	// Action is the action.
	Action Action
	// Status is deny_status for deny (parse sets 403) or the code for
	// redirect (parse sets 302).
	Status int
	// Redirect is the redirect kind, for ActionRedirect.
	Redirect RedirectKind
	// Target is the redirect's location, prefix or scheme (a log-format
	// string, kept verbatim).
	Target string
	// DropQuery, AppendSlash are redirect options.
	DropQuery, AppendSlash bool
	// Header is the header name for the header actions.
	Header string
	// Value is the header value (a log-format string, kept verbatim).
	Value string
	// Service is the service name for use-service (ServicePrometheus).
	Service string
	// Cond is the condition; nil means always.
	Cond *Condition
	// Line is the source line.
	Line int
}

// Stats is the stats page of a frontend.
type Stats struct {
	// Enable is "stats enable".
	Enable bool
	// URI is "stats uri". Parse sets HAProxy's "/haproxy?stats" when
	// stats are enabled without one.
	URI string
	// Realm is "stats realm"; empty means none.
	Realm string
	// Auth is "stats auth USER:PASS" lines; empty means no auth.
	Auth []string
	// Refresh is "stats refresh"; zero means no auto-refresh.
	Refresh time.Duration
}
