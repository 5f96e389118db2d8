package virtio

import (
	"fmt"
	"math/bits"
	"strings"
)

// Features is a set of virtio feature bits.
type Features uint64

// Has reports whether every bit of g is in f.
func (f Features) Has(g Features) bool { return f&g == g }

// virtio-net device feature bits (virtio 1.2, 5.1.3).
const (
	NetCsum              Features = 1 << 0  // VIRTIO_NET_F_CSUM: device takes partially checksummed TX packets
	NetGuestCsum         Features = 1 << 1  // VIRTIO_NET_F_GUEST_CSUM: driver takes partially checksummed RX packets
	NetCtrlGuestOffloads Features = 1 << 2  // VIRTIO_NET_F_CTRL_GUEST_OFFLOADS
	NetMTU               Features = 1 << 3  // VIRTIO_NET_F_MTU: config space has mtu
	NetMAC               Features = 1 << 5  // VIRTIO_NET_F_MAC: config space has mac
	NetGuestTSO4         Features = 1 << 7  // VIRTIO_NET_F_GUEST_TSO4
	NetGuestTSO6         Features = 1 << 8  // VIRTIO_NET_F_GUEST_TSO6
	NetHostTSO4          Features = 1 << 11 // VIRTIO_NET_F_HOST_TSO4
	NetMrgRxbuf          Features = 1 << 15 // VIRTIO_NET_F_MRG_RXBUF
	NetStatus            Features = 1 << 16 // VIRTIO_NET_F_STATUS: config space has status
	NetCtrlVQ            Features = 1 << 17 // VIRTIO_NET_F_CTRL_VQ
	NetCtrlRx            Features = 1 << 18 // VIRTIO_NET_F_CTRL_RX
	NetCtrlVLAN          Features = 1 << 19 // VIRTIO_NET_F_CTRL_VLAN
	NetGuestAnnounce     Features = 1 << 21 // VIRTIO_NET_F_GUEST_ANNOUNCE
	NetMQ                Features = 1 << 22 // VIRTIO_NET_F_MQ: multiqueue, VQ_PAIRS_SET
	NetCtrlMACAddr       Features = 1 << 23 // VIRTIO_NET_F_CTRL_MAC_ADDR
	NetHashReport        Features = 1 << 57 // VIRTIO_NET_F_HASH_REPORT
	NetRSS               Features = 1 << 60 // VIRTIO_NET_F_RSS: RSS_CONFIG
	NetSpeedDuplex       Features = 1 << 63 // VIRTIO_NET_F_SPEED_DUPLEX
)

// Device-independent feature bits (virtio 1.2, 6).
const (
	RingIndirectDesc Features = 1 << 28 // VIRTIO_F_INDIRECT_DESC
	RingEventIdx     Features = 1 << 29 // VIRTIO_F_EVENT_IDX
	Version1         Features = 1 << 32 // VIRTIO_F_VERSION_1
	AccessPlatform   Features = 1 << 33 // VIRTIO_F_ACCESS_PLATFORM
	RingPacked       Features = 1 << 34 // VIRTIO_F_RING_PACKED
	InOrder          Features = 1 << 35 // VIRTIO_F_IN_ORDER
	OrderPlatform    Features = 1 << 36 // VIRTIO_F_ORDER_PLATFORM
	SRIOV            Features = 1 << 37 // VIRTIO_F_SR_IOV
	NotificationData Features = 1 << 38 // VIRTIO_F_NOTIFICATION_DATA
)

// Supported is every feature this driver can accept. Anything else the device
// offers is declined.
//
//   - NetCsum is used only with Config.VnetHdr, whose frames may leave the
//     TCP checksum for the device; plain frames go out with flags 0 and a
//     checksum the stack computed, which is always allowed.
//   - NetGuestCsum: RX frames marked NEEDS_CSUM are completed in software
//     before the stack sees them (TCP ones are passed on partial with
//     Config.PartialTCP); DATA_VALID frames are counted.
//   - NetMrgRxbuf is declined: every RX buffer holds a whole frame, of
//     MaxFrame bytes or, with GUEST_TSO4, of 64 KiB.
//   - AccessPlatform is accepted: TamaGo maps memory 1:1, so device addresses
//     are physical addresses either way.
//   - NetHostTSO4 is accepted with Config.VnetHdr only, whose frames can ask
//     for segmentation, and with NetCsum, which it requires; large frames
//     go out through a few 64 KiB TX buffers of their own.
//   - NetGuestTSO4 is accepted with Config.GuestTSO only, and with
//     NetGuestCsum, which it requires: every RX buffer then holds 64 KiB.
const Supported = Version1 | RingEventIdx | AccessPlatform | OrderPlatform |
	NetCsum | NetGuestCsum | NetMTU | NetMAC | NetStatus |
	NetCtrlVQ | NetMQ | NetRSS | NetHostTSO4 | NetGuestTSO4

// names lists feature bits by number, for String.
var names = map[int]string{
	0: "CSUM", 1: "GUEST_CSUM", 2: "CTRL_GUEST_OFFLOADS", 3: "MTU", 5: "MAC",
	7: "GUEST_TSO4", 8: "GUEST_TSO6", 11: "HOST_TSO4", 15: "MRG_RXBUF",
	16: "STATUS", 17: "CTRL_VQ", 18: "CTRL_RX", 19: "CTRL_VLAN",
	21: "GUEST_ANNOUNCE", 22: "MQ", 23: "CTRL_MAC_ADDR", 28: "INDIRECT_DESC",
	29: "EVENT_IDX", 32: "VERSION_1", 33: "ACCESS_PLATFORM", 34: "RING_PACKED",
	35: "IN_ORDER", 36: "ORDER_PLATFORM", 37: "SR_IOV", 38: "NOTIFICATION_DATA",
	57: "HASH_REPORT", 60: "RSS", 63: "SPEED_DUPLEX",
}

// String lists the feature names, joined by "|".
func (f Features) String() string {
	if f == 0 {
		return "0"
	}
	var parts []string
	for v := uint64(f); v != 0; v &= v - 1 {
		b := bits.TrailingZeros64(v)
		if n, ok := names[b]; ok {
			parts = append(parts, n)
		} else {
			parts = append(parts, fmt.Sprintf("bit%d", b))
		}
	}
	return strings.Join(parts, "|")
}

// negotiate returns the features the driver accepts out of offered: the
// intersection with Supported minus refused, with features whose
// prerequisites are missing dropped (virtio 1.2, 5.1.3.1: MQ and RSS require
// CTRL_VQ, HOST_TSO4 requires CSUM, GUEST_TSO4 GUEST_CSUM). It fails if
// VERSION_1 is missing: this driver has no legacy mode.
func negotiate(offered, refused Features) (Features, error) {
	acc := offered & Supported &^ refused
	if !acc.Has(Version1) {
		return 0, fmt.Errorf("virtio: device does not offer VERSION_1 (offered %q)", offered)
	}
	if !acc.Has(NetCtrlVQ) {
		acc &^= NetMQ | NetRSS
	}
	if !acc.Has(NetCsum) {
		acc &^= NetHostTSO4
	}
	if !acc.Has(NetGuestCsum) {
		acc &^= NetGuestTSO4
	}
	return acc, nil
}
