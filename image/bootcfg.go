package main

import (
	"errors"
	"fmt"

	"github.com/bareproxy/bareproxy/proxy/config"
)

// Where the bare-metal image's configuration comes from. The logic is plain
// Go so that it tests on Linux; metal.go feeds it the embedded bytes and
// what the board read from QEMU's fw_cfg.
const (
	// embeddedConfigName names the embedded configuration in messages.
	embeddedConfigName = "embedded.cfg"
	// fwCfgConfigName is the fw_cfg file that overrides it:
	// qemu ... -fw_cfg name=opt/bareproxy/config,file=PATH
	fwCfgConfigName = "opt/bareproxy/config"
)

// Exit codes of the bare-metal image through isa-debug-exit (QEMU exits with
// status code<<1|1).
const (
	exitFailed    = 1 // the appliance stopped with an error
	exitBadConfig = 3 // the embedded configuration does not parse
	exitNoNetwork = 4 // no NIC, or no address
)

// bootConfig is the configuration in force at boot and how it was chosen.
type bootConfig struct {
	cfg *config.Config
	// source is "embedded" or "fw_cfg".
	source string
	// warnings are the chosen configuration's parse warnings.
	warnings []config.Warning
	// rejected, if not nil, says why a fw_cfg override was not used
	// (file:line errors, one per line).
	rejected error
}

// errBadEmbedded marks a build whose embedded configuration does not parse:
// the image refuses to boot (the Makefile's check should have caught it).
var errBadEmbedded = errors.New("embedded configuration rejected, not starting")

// chooseConfig parses the embedded configuration and, when present, the
// fw_cfg override. A valid override replaces the embedded configuration; an
// invalid or unreadable one is reported in rejected and the embedded one
// stays in force. An invalid embedded configuration is an error wrapping
// errBadEmbedded with every file:line message.
func chooseConfig(embedded, override []byte, hasOverride bool, overrideErr error) (bootConfig, error) {
	cfg, warns, err := config.Parse(embeddedConfigName, embedded)
	if err != nil {
		return bootConfig{}, fmt.Errorf("%w:\n%w", errBadEmbedded, err)
	}
	bc := bootConfig{cfg: cfg, source: "embedded", warnings: warns}
	switch {
	case overrideErr != nil:
		bc.rejected = fmt.Errorf("fw_cfg %s unreadable: %w", fwCfgConfigName, overrideErr)
	case hasOverride:
		ocfg, owarns, err := config.Parse(fwCfgConfigName, override)
		if err != nil {
			bc.rejected = err
			break
		}
		bc = bootConfig{cfg: ocfg, source: "fw_cfg", warnings: owarns}
	}
	return bc, nil
}
