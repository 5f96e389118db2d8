//go:build tamago

package qemu

import (
	"encoding/binary"
	"fmt"
	"sync"
)

// fwCfgMu serialises fw_cfg accesses: select then read is a sequence.
var fwCfgMu sync.Mutex

// outw writes a 16-bit value to an I/O port (fwcfg_amd64.s).
func outw(port uint16, val uint16)

// fwCfgRead selects item sel and reads len(buf) bytes of it from the start.
// The caller holds fwCfgMu.
func fwCfgRead(sel uint16, buf []byte) {
	outw(FwCfgSelectorPort, sel)
	for i := range buf {
		buf[i] = inb(FwCfgDataPort)
	}
}

// FwCfgPresent reports whether QEMU's fw_cfg device answers at its I/O
// ports (it does on microvm and on pc/q35).
func FwCfgPresent() bool {
	fwCfgMu.Lock()
	defer fwCfgMu.Unlock()
	return fwCfgPresent()
}

func fwCfgPresent() bool {
	var sig [4]byte
	fwCfgRead(fwCfgSignature, sig[:])
	return string(sig[:]) == "QEMU"
}

// FwCfgFiles lists the named files QEMU offers through fw_cfg.
func FwCfgFiles() ([]FwCfgEntry, error) {
	fwCfgMu.Lock()
	defer fwCfgMu.Unlock()
	return fwCfgFiles()
}

func fwCfgFiles() ([]FwCfgEntry, error) {
	if !fwCfgPresent() {
		return nil, fmt.Errorf("fw_cfg: no device at I/O port %#x", FwCfgSelectorPort)
	}
	var count [4]byte
	fwCfgRead(fwCfgFileDir, count[:])
	n := binary.BigEndian.Uint32(count[:])
	if n > fwCfgMaxEntries {
		return nil, fmt.Errorf("fw_cfg: directory claims %d files, more than %d", n, fwCfgMaxEntries)
	}
	dir := make([]byte, 4+int(n)*fwCfgEntrySize)
	fwCfgRead(fwCfgFileDir, dir)
	return parseFwCfgDir(dir)
}

// FwCfgFile returns the contents of the fw_cfg file called name, as given to
// QEMU with -fw_cfg name=NAME,file=PATH (or string=TEXT). ok is false when
// QEMU has no fw_cfg device or no such file; err is set when the directory
// is malformed or the file is larger than FwCfgMaxFile.
func FwCfgFile(name string) (data []byte, ok bool, err error) {
	fwCfgMu.Lock()
	defer fwCfgMu.Unlock()
	if !fwCfgPresent() {
		return nil, false, nil
	}
	entries, err := fwCfgFiles()
	if err != nil {
		return nil, false, err
	}
	e, ok := findFwCfg(entries, name)
	if !ok {
		return nil, false, nil
	}
	if e.Size > FwCfgMaxFile {
		return nil, true, fmt.Errorf("fw_cfg: file %q is %d bytes, more than %d", name, e.Size, FwCfgMaxFile)
	}
	data = make([]byte, e.Size)
	fwCfgRead(e.Select, data)
	return data, true, nil
}
