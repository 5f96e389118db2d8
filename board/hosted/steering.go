//go:build linux

package hosted

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"

	"github.com/bareproxy/bareproxy/tcp"
)

// Offsets into the Ethernet frame that the steering program reads. The TAP
// device runs its program from ndo_select_queue on the transmit path, where
// skb->data is the start of the Ethernet header.
const (
	offEtherType = 12 // Ethernet type (IEEE 802.3)
	offIPv4      = 14 // start of the IPv4 header (RFC 791)
	offVerIHL    = offIPv4 + 0
	offFragment  = offIPv4 + 6 // flags and fragment offset
	offProtocol  = offIPv4 + 9
	offSrcAddr   = offIPv4 + 12
	offDstAddr   = offIPv4 + 16
)

// Values the steering program compares against.
const (
	etherTypeIPv4 = 0x0800
	ipVersion4    = 0x40   // version nibble in the high half of byte 0
	ipMinIHL      = 5      // 20-byte header, RFC 791 section 3.1
	ipFragMask    = 0x3fff // MF flag and the 13-bit fragment offset
	protoTCP      = 6
	protoUDP      = 17
)

// mixMultiplier returns tcp.MixMultiplier as the 32-bit immediate of a
// BPF_ALU multiply, which uses the immediate's 32 bits as they are.
func mixMultiplier() int32 {
	m := uint32(tcp.MixMultiplier)
	return int32(m)
}

// steeringInstructions returns the SOCKET_FILTER program that TUNSETSTEERINGEBPF
// runs for every frame the kernel transmits into the TAP device. It returns
// tcp.MixHash of the frame's IPv4 TCP or UDP flow, and 0 for anything else
// (non-IPv4, other protocols, fragments, malformed or truncated headers); the
// kernel keeps the result as a u16 and takes it modulo the queue count
// (drivers/net/tun.c, tun_ebpf_select_queue), which is tcp.MixSteering.Core.
//
// LD_ABS and LD_IND loads return big-endian fields in host order, and they
// end the program with return value 0 when the load runs past the packet.
// All arithmetic is 32-bit so that the multiply wraps as Go's uint32 does.
func steeringInstructions() asm.Instructions {
	const ret0 = "ret0"
	return asm.Instructions{
		// LD_ABS and LD_IND take the skb from R6.
		asm.Mov.Reg(asm.R6, asm.R1),

		// Ethernet type must be IPv4. The kernel keeps a VLAN tag in
		// the skb's metadata until the TAP's read path inserts it, so a
		// frame sent through a VLAN device shows its inner type here.
		asm.LoadAbs(offEtherType, asm.Half),
		asm.JNE.Imm(asm.R0, etherTypeIPv4, ret0),

		// Version 4 and a header length of at least 20 bytes.
		asm.LoadAbs(offVerIHL, asm.Byte),
		asm.Mov.Reg32(asm.R7, asm.R0),
		asm.And.Imm32(asm.R7, 0xf0),
		asm.JNE.Imm(asm.R7, ipVersion4, ret0),
		asm.And.Imm32(asm.R0, 0x0f),
		asm.JLT.Imm(asm.R0, ipMinIHL, ret0),
		asm.LSh.Imm32(asm.R0, 2),
		asm.Mov.Reg32(asm.R7, asm.R0), // R7 = header length in bytes

		// Fragments carry no ports past the first; steer them all to 0.
		asm.LoadAbs(offFragment, asm.Half),
		asm.And.Imm32(asm.R0, ipFragMask),
		asm.JNE.Imm(asm.R0, 0, ret0),

		// TCP or UDP only.
		asm.LoadAbs(offProtocol, asm.Byte),
		asm.JEq.Imm(asm.R0, protoTCP, "ports"),
		asm.JNE.Imm(asm.R0, protoUDP, ret0),

		// R8 = srcIP ^ dstIP ^ (srcPort<<16 | dstPort)
		asm.LoadAbs(offSrcAddr, asm.Word).WithSymbol("ports"),
		asm.Mov.Reg32(asm.R8, asm.R0),
		asm.LoadAbs(offDstAddr, asm.Word),
		asm.Xor.Reg32(asm.R8, asm.R0),
		asm.LoadInd(asm.R0, asm.R7, offIPv4, asm.Word),
		asm.Xor.Reg32(asm.R8, asm.R0),

		// h ^= h >> 16; h *= MixMultiplier; h ^= h >> 16
		asm.Mov.Reg32(asm.R0, asm.R8),
		asm.RSh.Imm32(asm.R0, 16),
		asm.Xor.Reg32(asm.R8, asm.R0),
		asm.Mul.Imm32(asm.R8, mixMultiplier()),
		asm.Mov.Reg32(asm.R0, asm.R8),
		asm.RSh.Imm32(asm.R0, 16),
		asm.Xor.Reg32(asm.R0, asm.R8),
		asm.Return(),

		asm.Mov.Imm32(asm.R0, 0).WithSymbol(ret0),
		asm.Return(),
	}
}

// newSteeringProgram loads the steering program into the kernel.
func newSteeringProgram() (*ebpf.Program, error) {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         "tap_mix_steer",
		Type:         ebpf.SocketFilter,
		Instructions: steeringInstructions(),
		License:      "Apache-2.0",
	})
	if err != nil {
		return nil, fmt.Errorf("hosted: load steering program: %w", err)
	}
	return prog, nil
}

// AttachSteering loads the eBPF program that computes tcp.MixSteering's hash
// and attaches it to the device with TUNSETSTEERINGEBPF (Linux 4.16 or
// later), so that the kernel puts every IPv4 TCP and UDP frame on queue
// tcp.MixSteering{N: len(t.Queues())}.Core(flow), and everything else on
// queue 0. Loading the program needs CAP_BPF or CAP_SYS_ADMIN unless the
// kernel allows unprivileged BPF; kernels before 5.11 also charge it to
// RLIMIT_MEMLOCK, which the caller may have to raise
// (github.com/cilium/ebpf/rlimit).
//
// On error the device keeps the kernel's own flow steering, which does not
// match MixSteering; the caller logs it and relies on the per-core runtime
// forwarding misses in software.
func (t *TAP) AttachSteering() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed.Load() {
		return fmt.Errorf("hosted: attach steering to %q: %w", t.name, errTAPClosed)
	}
	if len(t.queues) == 0 {
		return fmt.Errorf("hosted: attach steering to %q: no queues", t.name)
	}
	prog, err := newSteeringProgram()
	if err != nil {
		return err
	}
	// The program is attached to the device, not to the fd: setting it
	// through any queue's fd applies to every queue.
	var ioctlErr error
	ctlErr := t.queues[0].raw.Control(func(fd uintptr) {
		ioctlErr = unix.IoctlSetPointerInt(int(fd), unix.TUNSETSTEERINGEBPF, prog.FD())
	})
	if err := errors.Join(ctlErr, ioctlErr); err != nil {
		prog.Close()
		return fmt.Errorf("hosted: attach steering to %q: %w", t.name, err)
	}
	// The kernel holds its own reference to the attached program; keep
	// ours until Close so that the program stays inspectable and Close
	// releases it deterministically.
	if t.steering != nil {
		t.steering.Close()
	}
	t.steering = prog
	return nil
}
