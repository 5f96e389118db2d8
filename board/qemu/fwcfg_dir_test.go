package qemu

import (
	"encoding/binary"
	"reflect"
	"testing"
)

// fwCfgDir builds a file directory item as QEMU lays it out.
func fwCfgDir(count uint32, entries ...FwCfgEntry) []byte {
	b := binary.BigEndian.AppendUint32(nil, count)
	for _, e := range entries {
		var ent [fwCfgEntrySize]byte
		binary.BigEndian.PutUint32(ent[0:], e.Size)
		binary.BigEndian.PutUint16(ent[4:], e.Select)
		copy(ent[8:], e.Name)
		b = append(b, ent[:]...)
	}
	return b
}

func TestParseFwCfgDir(t *testing.T) {
	cfg := FwCfgEntry{Name: "opt/bareproxy/config", Select: 0x20, Size: 391}
	loader := FwCfgEntry{Name: "etc/table-loader", Select: 0x21, Size: 4096}
	long := FwCfgEntry{Name: "opt/" + string(repeat('x', 52)), Select: 0x22, Size: 1}
	for _, tc := range []struct {
		name    string
		dir     []byte
		want    []FwCfgEntry
		wantErr bool
	}{
		{name: "two files", dir: fwCfgDir(2, loader, cfg), want: []FwCfgEntry{loader, cfg}},
		{name: "empty", dir: fwCfgDir(0), want: []FwCfgEntry{}},
		{name: "name fills 56 bytes without NUL", dir: fwCfgDir(1, long), want: []FwCfgEntry{long}},
		{name: "no count", dir: []byte{0, 0}, wantErr: true},
		{name: "count beyond data", dir: fwCfgDir(3, loader, cfg), wantErr: true},
		{name: "absurd count", dir: fwCfgDir(1 << 30), wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseFwCfgDir(tc.dir)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("parseFwCfgDir = %v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("parseFwCfgDir = %+v, want %+v", got, tc.want)
			}
		})
	}
	entries, _ := parseFwCfgDir(fwCfgDir(2, loader, cfg))
	if e, ok := findFwCfg(entries, "opt/bareproxy/config"); !ok || e != cfg {
		t.Errorf("findFwCfg = %+v, %v", e, ok)
	}
	if _, ok := findFwCfg(entries, "opt/other"); ok {
		t.Error("findFwCfg found a missing file")
	}
}

// FuzzParseFwCfgDir: the directory comes from the hypervisor; a bad one
// must give an error, never a panic.
func FuzzParseFwCfgDir(f *testing.F) {
	f.Add(fwCfgDir(1, FwCfgEntry{Name: "opt/x", Select: 0x20, Size: 3}))
	f.Add([]byte{0, 0, 0, 1})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, err := parseFwCfgDir(b)
		if err == nil && len(entries) > (len(b)-4)/fwCfgEntrySize {
			t.Fatalf("%d entries from %d bytes", len(entries), len(b))
		}
	})
}

func repeat(c byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = c
	}
	return b
}
