//go:build tamago

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"

	"github.com/bareproxy/bareproxy/board/qemu"
	"github.com/bareproxy/bareproxy/percpu"
	"github.com/bareproxy/bareproxy/proxy/config"
	"github.com/bareproxy/bareproxy/tcp"
	"github.com/bareproxy/bareproxy/tcp/dhcp"
	"github.com/bareproxy/bareproxy/virtio"
)

// metalNIC is the virtio-net device the appliance runs on.
type metalNIC struct {
	dev *virtio.Device
	mac net.HardwareAddr
	// lease is the DHCP lease the address came from, which
	// maintainLease renews once the stacks run; nil for a static address.
	lease *dhcp.Lease
}

// openNIC finds the first virtio-net device and opens it with one queue pair
// per core (the configuration's cores when fewer), programming RSS with the
// Toeplitz key and table that tcp/ steers by. If the device has fewer pairs
// it is reopened with as many, and the appliance runs on that many cores.
func openNIC(cfg *config.Config, log *slog.Logger) (*metalNIC, error) {
	cores := qemu.Cores()
	if n := cfg.Cores(); n > 0 {
		if n > cores {
			log.Warn("the configuration asks for more cores than the machine has", "asked", n, "cores", cores)
		} else {
			cores = n
		}
	}
	d, ok := qemu.FindNet()
	if !ok {
		return nil, errors.New("no virtio-net device (QEMU: -device virtio-net-device,netdev=...)")
	}
	dev, err := virtio.OpenMMIO(d.Base, nicConfig(cores))
	if err != nil {
		return nil, fmt.Errorf("virtio-net at %#x: %w", d.Base, err)
	}
	if got := len(dev.Pairs()); got < cores {
		log.Warn("the NIC has fewer queue pairs than cores; using one core per pair", "pairs", got, "cores", cores)
		dev.Close()
		cores = got
		dev, err = virtio.OpenMMIO(d.Base, nicConfig(cores))
		if err != nil {
			return nil, fmt.Errorf("virtio-net at %#x: %w", d.Base, err)
		}
	}
	for _, q := range dev.Pairs() {
		log.Info(fmt.Sprintf("queue %d active", q.Index()))
	}
	if dev.RSS() {
		log.Info("RSS on: the NIC steers flows with tcp's Toeplitz key and table", "pairs", len(dev.Pairs()))
	} else {
		log.Info("RSS off: software dispatch, frames are steered to their core after they are received", "pairs", len(dev.Pairs()))
	}
	nic := &metalNIC{dev: dev}
	if mac, ok := dev.MAC(); ok {
		nic.mac = net.HardwareAddr(mac[:])
	}
	if cfg.Network.MAC != nil {
		nic.mac = cfg.Network.MAC
	}
	if nic.mac == nil {
		nic.mac = net.HardwareAddr{0x02, 0xbb, 0, 0, 0, 1}
	}
	log.Info("virtio-net", "base", fmt.Sprintf("%#x", d.Base), "irq", d.IRQ, "mac", nic.mac.String(),
		"features", dev.Features().String(), "link_up", dev.LinkUp())
	return nic, nil
}

// nicConfig is how the image drives virtio-net on cores queue pairs: RSS
// with tcp's Toeplitz key and table, and frames behind a virtio_net_hdr so
// that the device finishes and cuts the engine's segments and hands over
// the host's large ones, with TCP checksums left partial for the engine.
func nicConfig(cores int) virtio.Config {
	return virtio.Config{Pairs: cores, Steering: tcp.NewToeplitzSteering(cores),
		VnetHdr: true, PartialTCP: true, GuestTSO: true}
}

// frameSize is the largest frame the NIC's queues deliver, header
// included: a 64 KiB segment with GUEST_TSO4, else one Ethernet frame.
func (n *metalNIC) frameSize() int {
	if n.dev.GuestTSO() {
		return tcp.MaxVnetFrame
	}
	return tcp.VnetHdrLen + percpu.MaxFrame
}

// address returns the static address of the network section, or a DHCP
// lease when the section says "address dhcp" (kept in nic.lease for
// maintainLease). The section's gateway, if any, overrides the lease's
// router.
func address(cfg *config.Config, nic *metalNIC, log *slog.Logger) (netip.Prefix, netip.Addr, error) {
	n := cfg.Network
	if !n.DHCP {
		if !n.Address.IsValid() {
			return netip.Prefix{}, netip.Addr{}, fmt.Errorf("%s: no address: add a network section with \"address A.B.C.D/N\" or \"address dhcp\"", cfg.File)
		}
		log.Info("static address", "addr", n.Address.String(), "gateway", gatewayText(n.Gateway))
		return n.Address, n.Gateway, nil
	}
	lease, err := acquireLease(context.Background(), nic, log)
	if err != nil {
		return netip.Prefix{}, netip.Addr{}, err
	}
	nic.lease = &lease
	return lease.Addr, leaseGateway(lease, n.Gateway), nil
}
