//go:build linux

package main

import "testing"

// TestEngineFlag checks -engine's and -offload's values, and their
// defaults: the native engine, and offloads if the kernel takes them.
func TestEngineFlag(t *testing.T) {
	tests := []struct {
		args        []string
		ok          bool
		engine, off string
	}{
		{nil, true, "native", "auto"},
		{[]string{"-offload", "on"}, true, "native", "on"},
		{[]string{"-offload", "sometimes"}, false, "", ""},
		{[]string{"-engine", "gvisor"}, true, "gvisor", "auto"},
		{[]string{"-engine", "gvisor", "-offload", "on"}, true, "gvisor", "on"},
		{[]string{"-engine", "native"}, true, "native", "auto"},
		{[]string{"-engine", "native", "-offload", "off"}, true, "native", "off"},
		{[]string{"-engine", "lwip"}, false, "", ""},
	}
	for _, tt := range tests {
		f, err := parseFlags(tt.args)
		if (err == nil) != tt.ok {
			t.Errorf("parseFlags(%q): %v, want ok %v", tt.args, err, tt.ok)
			continue
		}
		if tt.ok && (f.engine != tt.engine || f.offload != tt.off) {
			t.Errorf("parseFlags(%q): engine %q offload %q, want %q %q", tt.args, f.engine, f.offload, tt.engine, tt.off)
		}
	}
}

func TestPinFlag(t *testing.T) {
	tests := []struct {
		args []string
		ok   bool
		pin  bool
	}{
		{nil, true, true},
		{[]string{"-pin=false"}, true, false},
		{[]string{"-pin=true"}, true, true},
		{[]string{"-pin=sometimes"}, false, false},
	}
	for _, tt := range tests {
		f, err := parseFlags(tt.args)
		if (err == nil) != tt.ok {
			t.Errorf("parseFlags(%q): %v, want ok %v", tt.args, err, tt.ok)
			continue
		}
		if tt.ok && f.pin != tt.pin {
			t.Errorf("parseFlags(%q): pin %v, want %v", tt.args, f.pin, tt.pin)
		}
		if tt.ok && (pinFunc(f.pin) != nil) != tt.pin {
			t.Errorf("parseFlags(%q): pinFunc is nil: %v, want a function %v", tt.args, pinFunc(f.pin) == nil, tt.pin)
		}
	}
}
