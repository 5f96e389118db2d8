package virtio_test

import (
	"strings"
	"testing"

	"github.com/bareproxy/bareproxy/virtio"
	"github.com/bareproxy/bareproxy/virtio/devmodel"
)

func TestNegotiation(t *testing.T) {
	all := devmodel.DefaultFeatures
	base := virtio.Version1 | virtio.RingEventIdx | virtio.NetMAC | virtio.NetStatus |
		virtio.NetMTU | virtio.NetCsum | virtio.NetGuestCsum
	tests := []struct {
		name      string
		model     devmodel.Config
		cfg       virtio.Config
		want      virtio.Features // exact negotiated set
		pairs     int             // driver's pairs
		devPairs  int             // pairs the device enabled
		rss       bool
		mtu       int
		wantErr   string
		wantFail  bool // FAILED status set
		checkSent bool
	}{
		{
			name:  "everything",
			model: devmodel.Config{Features: all, MaxPairs: 4},
			want:  base | virtio.NetCtrlVQ | virtio.NetMQ | virtio.NetRSS,
			pairs: 4, devPairs: 4, rss: true, mtu: 1500,
		},
		{
			name:  "fewer pairs than the device",
			model: devmodel.Config{Features: all, MaxPairs: 4},
			cfg:   virtio.Config{Pairs: 2},
			want:  base | virtio.NetCtrlVQ | virtio.NetMQ | virtio.NetRSS,
			pairs: 2, devPairs: 2, rss: true, mtu: 1500,
		},
		{
			name:  "more pairs than the device",
			model: devmodel.Config{Features: all, MaxPairs: 2},
			cfg:   virtio.Config{Pairs: 8},
			want:  base | virtio.NetCtrlVQ | virtio.NetMQ | virtio.NetRSS,
			pairs: 2, devPairs: 2, rss: true, mtu: 1500,
		},
		{
			name:  "no RSS",
			model: devmodel.Config{Features: all &^ virtio.NetRSS, MaxPairs: 4},
			want:  base | virtio.NetCtrlVQ | virtio.NetMQ,
			pairs: 4, devPairs: 4, mtu: 1500,
		},
		{
			name:  "no MQ, no RSS",
			model: devmodel.Config{Features: all &^ (virtio.NetRSS | virtio.NetMQ), MaxPairs: 4},
			want:  base | virtio.NetCtrlVQ,
			pairs: 1, devPairs: 1, mtu: 1500,
		},
		{
			name:  "RSS without MQ",
			model: devmodel.Config{Features: all &^ virtio.NetMQ, MaxPairs: 2},
			want:  base | virtio.NetCtrlVQ | virtio.NetRSS,
			pairs: 2, devPairs: 2, rss: true, mtu: 1500,
		},
		{
			name:  "MQ and RSS without CTRL_VQ",
			model: devmodel.Config{Features: all &^ virtio.NetCtrlVQ, MaxPairs: 4},
			want:  base,
			pairs: 1, devPairs: 1, mtu: 1500,
		},
		{
			name:  "no EVENT_IDX",
			model: devmodel.Config{Features: all &^ virtio.RingEventIdx, MaxPairs: 2},
			want:  base&^virtio.RingEventIdx | virtio.NetCtrlVQ | virtio.NetMQ | virtio.NetRSS,
			pairs: 2, devPairs: 2, rss: true, mtu: 1500,
		},
		{
			name:  "minimal device",
			model: devmodel.Config{Features: virtio.Version1},
			want:  virtio.Version1,
			pairs: 1, devPairs: 1,
		},
		{
			name:  "refused by config",
			model: devmodel.Config{Features: all, MaxPairs: 2},
			cfg:   virtio.Config{Refuse: virtio.NetRSS | virtio.NetGuestCsum},
			want:  base&^virtio.NetGuestCsum | virtio.NetCtrlVQ | virtio.NetMQ,
			pairs: 2, devPairs: 2, mtu: 1500,
		},
		{
			name:  "MTU too large for the buffers",
			model: devmodel.Config{Features: all, MaxPairs: 1, MTU: 9000},
			want:  base&^virtio.NetMTU | virtio.NetCtrlVQ | virtio.NetMQ | virtio.NetRSS,
			pairs: 1, devPairs: 1, rss: true,
		},
		{
			name:  "RSS table limit too small",
			model: devmodel.Config{Features: all, MaxPairs: 2, RSSMaxTable: 64},
			want:  base | virtio.NetCtrlVQ | virtio.NetMQ | virtio.NetRSS,
			pairs: 2, devPairs: 2, mtu: 1500,
		},
		{
			name:  "RSS without TCPv4 hashing",
			model: devmodel.Config{Features: all, MaxPairs: 2, HashTypes: virtio.HashTypeIPv4},
			want:  base | virtio.NetCtrlVQ | virtio.NetMQ | virtio.NetRSS,
			pairs: 2, devPairs: 2, mtu: 1500,
		},
		{
			name:    "no VERSION_1",
			model:   devmodel.Config{Features: all &^ virtio.Version1},
			wantErr: "VERSION_1", wantFail: true,
		},
		{
			name:    "FEATURES_OK refused",
			model:   devmodel.Config{Features: all, RejectFeatures: true},
			wantErr: "refused features", wantFail: true,
		},
		{
			name:    "control commands refused",
			model:   devmodel.Config{Features: all, MaxPairs: 2, RejectControl: true},
			wantErr: "set 2 queue pairs", wantFail: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := devmodel.New(tt.model)
			d, err := virtio.New(m, m.Memory(), tt.cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("New error = %v, want one containing %q", err, tt.wantErr)
				}
				if got := m.Status()&virtio.StatusFailed != 0; got != tt.wantFail {
					t.Errorf("FAILED status = %v, want %v", got, tt.wantFail)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			defer d.Close()
			if got := d.Features(); got != tt.want {
				t.Errorf("features = %q, want %q", got, tt.want)
			}
			if got := m.DriverFeatures(); got != d.Features() {
				t.Errorf("device saw features %q, driver reports %q", got, d.Features())
			}
			if got := len(d.Pairs()); got != tt.pairs {
				t.Errorf("pairs = %d, want %d", got, tt.pairs)
			}
			if got := m.Pairs(); got != tt.devPairs {
				t.Errorf("device pairs = %d, want %d", got, tt.devPairs)
			}
			if got := d.RSS(); got != tt.rss {
				t.Errorf("RSS() = %v, want %v", got, tt.rss)
			}
			if got := d.MTU(); got != tt.mtu {
				t.Errorf("MTU() = %d, want %d", got, tt.mtu)
			}
			want := uint8(virtio.StatusAcknowledge | virtio.StatusDriver | virtio.StatusFeaturesOK | virtio.StatusDriverOK)
			if got := m.Status(); got != want {
				t.Errorf("status = %#x, want %#x", got, want)
			}
			if got := m.Stats().EarlyNotify.Load(); got != 0 {
				t.Errorf("%d notifications before DRIVER_OK", got)
			}
		})
	}
}

func TestMACAndLink(t *testing.T) {
	mac := [6]byte{0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc}
	m, d := newDevice(t, devmodel.Config{MAC: mac}, virtio.Config{})
	if got, ok := d.MAC(); !ok || got != mac {
		t.Errorf("MAC() = %x, %v, want %x, true", got, ok, mac)
	}
	if !d.LinkUp() {
		t.Error("link down at start")
	}
	m.SetLink(false)
	if d.LinkUp() {
		t.Error("link up after SetLink(false)")
	}
	d.HandleInterrupt() // config change: must not wake or break anything
	m.SetLink(true)
	if !d.LinkUp() {
		t.Error("link down after SetLink(true)")
	}

	_, d2 := newDevice(t, devmodel.Config{Features: virtio.Version1, MAC: mac}, virtio.Config{})
	if _, ok := d2.MAC(); ok {
		t.Error("MAC() ok without VIRTIO_NET_F_MAC")
	}
	if !d2.LinkUp() {
		t.Error("link down without VIRTIO_NET_F_STATUS")
	}
}
