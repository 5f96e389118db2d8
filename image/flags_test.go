//go:build linux

package main

import "testing"

// TestEngineFlag checks -engine's values, that native is the default, and
// that native turns TAP offloads off, or refuses -offload on.
func TestEngineFlag(t *testing.T) {
	tests := []struct {
		args        []string
		ok          bool
		engine, off string
	}{
		{nil, true, "native", "off"},
		{[]string{"-offload", "on"}, false, "", ""},
		{[]string{"-engine", "gvisor"}, true, "gvisor", "auto"},
		{[]string{"-engine", "gvisor", "-offload", "on"}, true, "gvisor", "on"},
		{[]string{"-engine", "native"}, true, "native", "off"},
		{[]string{"-engine", "native", "-offload", "off"}, true, "native", "off"},
		{[]string{"-engine", "native", "-offload", "on"}, false, "", ""},
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
