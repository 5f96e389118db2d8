package qemu

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// QEMU's firmware configuration device (docs/specs/fw_cfg.rst in QEMU):
// items are chosen by a 16-bit selector and read a byte at a time. Named
// files given on the command line with
//
//	-fw_cfg name=opt/NAME,file=PATH
//
// are listed in the file directory item, whose layout is parsed here, in
// plain Go, so that it tests on Linux.
const (
	// FwCfgSelectorPort takes the 16-bit item selector (x86 I/O port).
	FwCfgSelectorPort = 0x510
	// FwCfgDataPort reads the selected item, one byte per access.
	FwCfgDataPort = 0x511

	fwCfgSignature = 0x0000 // "QEMU"
	fwCfgFileDir   = 0x0019 // the file directory

	// fwCfgEntrySize is one directory entry: be32 size, be16 select,
	// be16 reserved, char name[56].
	fwCfgEntrySize = 64
	fwCfgNameSize  = 56

	// FwCfgMaxFile bounds how much of a named file is read; a larger
	// file is refused rather than allocated.
	FwCfgMaxFile = 1 << 20
	// fwCfgMaxEntries bounds the directory: QEMU has a few dozen.
	fwCfgMaxEntries = 4096
)

// FwCfgEntry is one file in the fw_cfg directory.
type FwCfgEntry struct {
	// Name is the file's name, such as "opt/bareproxy/config".
	Name string
	// Select is the selector that reads the file.
	Select uint16
	// Size is the file's length in bytes.
	Size uint32
}

// parseFwCfgDir parses the file directory item: a big-endian entry count
// followed by that many entries. It never reads past dir.
func parseFwCfgDir(dir []byte) ([]FwCfgEntry, error) {
	if len(dir) < 4 {
		return nil, fmt.Errorf("fw_cfg: directory of %d bytes has no count", len(dir))
	}
	n := binary.BigEndian.Uint32(dir)
	if n > fwCfgMaxEntries {
		return nil, fmt.Errorf("fw_cfg: directory claims %d files, more than %d", n, fwCfgMaxEntries)
	}
	body := dir[4:]
	if uint64(len(body)) < uint64(n)*fwCfgEntrySize {
		return nil, fmt.Errorf("fw_cfg: directory of %d bytes is short for %d files", len(dir), n)
	}
	entries := make([]FwCfgEntry, 0, n)
	for i := range int(n) {
		e := body[i*fwCfgEntrySize:][:fwCfgEntrySize]
		name := e[8:][:fwCfgNameSize]
		if j := strings.IndexByte(string(name), 0); j >= 0 {
			name = name[:j]
		}
		entries = append(entries, FwCfgEntry{
			Size:   binary.BigEndian.Uint32(e[0:]),
			Select: binary.BigEndian.Uint16(e[4:]),
			Name:   string(name),
		})
	}
	return entries, nil
}

// findFwCfg returns the entry called name.
func findFwCfg(entries []FwCfgEntry, name string) (FwCfgEntry, bool) {
	for _, e := range entries {
		if e.Name == name {
			return e, true
		}
	}
	return FwCfgEntry{}, false
}
