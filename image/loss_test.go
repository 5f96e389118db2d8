//go:build linux

package main

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
)

// dropPercent attaches to both directions of interface ifname in namespace
// ns a tc program that drops pct percent of packets at random. This kernel
// has no sch_netem, so loss comes from a TCX program instead.
func dropPercent(t *testing.T, ns, ifname string, pct int32) {
	t.Helper()
	const tcxPass, tcxDrop = 0, 2
	spec := &ebpf.ProgramSpec{
		Type:    ebpf.SchedCLS,
		License: "GPL",
		Instructions: asm.Instructions{
			asm.FnGetPrandomU32.Call(),
			asm.Mod.Imm32(asm.R0, 100),
			asm.JLT.Imm32(asm.R0, pct, "drop"),
			asm.Mov.Imm(asm.R0, tcxPass),
			asm.Return(),
			asm.Mov.Imm(asm.R0, tcxDrop).WithSymbol("drop"),
			asm.Return(),
		},
	}
	prog, err := ebpf.NewProgram(spec)
	if err != nil {
		t.Skipf("skipping: the kernel refused a tc program: %v", err)
	}
	t.Cleanup(func() { prog.Close() })
	err = inNetns(ns, func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		for _, dir := range []ebpf.AttachType{ebpf.AttachTCXIngress, ebpf.AttachTCXEgress} {
			l, err := link.AttachTCX(link.TCXOptions{Interface: ifi.Index, Program: prog, Attach: dir})
			if err != nil {
				return fmt.Errorf("attach %v: %w", dir, err)
			}
			t.Cleanup(func() { l.Close() })
		}
		return nil
	})
	if err != nil {
		t.Skipf("skipping: cannot attach a TCX program: %v", err)
	}
}

// TestL4UnderPacketLoss drops 3% of the packets between the client and the
// bridge, both ways: the appliance's engine and the kernel retransmit, and
// every response still arrives whole.
func TestL4UnderPacketLoss(t *testing.T) {
	withEachEngine(t, testL4UnderPacketLoss)
}

func testL4UnderPacketLoss(t *testing.T, engine string) {
	tp := newTopology(t)
	app := startAppliance(t, tp, l4Config, 2, "-engine", engine)
	want := tp.file(t, "4k.bin")
	dropPercent(t, tp.hub, tp.prefix+"-c", 3)
	// A connection whose SYN was retransmitted starts with Linux's
	// fallback RTO of 3 s (RFC 6298 5.7), so a lost request then costs
	// 3 s, and a second loss 6 s more. With 10 s per connection, one run
	// in about forty failed, with either engine; 30 s covers a third
	// loss.
	fetchFromClientWithin(t, tp, "/4k.bin", want, 200, 20, 30*time.Second)
	var accepted uint64
	for _, c := range app.cores(t) {
		accepted += c.Accepted
	}
	if accepted < 200 {
		t.Errorf("accepted %d connections, want at least 200", accepted)
	}
	retrans := tcpCounters(t, tp.client)["RetransSegs"]
	if retrans == 0 {
		t.Errorf("the client retransmitted nothing: the loss program dropped no packets")
	}
	t.Logf("client retransmitted %d segments", retrans)
}
