// Package config parses the appliance's configuration: HAProxy's
// configuration language (sections global, defaults, frontend, backend and
// listen) plus one section of its own, network, which sets the interface
// address, gateway, MAC and core count.
//
// Operators carry HAProxy configurations over, so where a feature exists in
// HAProxy (2.x) this package follows its syntax and meaning: word splitting
// and quoting, time and size units, defaults inheritance, ACLs and their
// conditions, server keywords and their defaults. HAProxy keywords that
// change nothing on this appliance (daemon, chroot, user, ...) produce
// warnings; anything that would change routing or access control and is not
// supported is an error, never silently ignored.
//
// Parse validates what it builds: every error names the file, the line,
// what is wrong and how to fix it, and Parse reports up to MaxErrors of them
// at once. The package only parses; it must not open sockets or know about
// the engine that runs the result.
package config
