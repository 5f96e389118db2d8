package main

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func TestChooseConfig(t *testing.T) {
	good, err := os.ReadFile("embedded.cfg")
	if err != nil {
		t.Fatal(err)
	}
	other := strings.Replace(string(good), "bind :80", "bind :8081", 1)
	bad := strings.Replace(string(good), "server web1", "severr web1", 1)
	for _, tc := range []struct {
		name        string
		embedded    string
		override    string
		hasOverride bool
		overrideErr error
		wantSource  string
		wantPort    uint16
		wantReject  string // substring of rejected; "" means nil
		wantErr     string // substring of the error; "" means nil
	}{
		{name: "embedded only", embedded: string(good), wantSource: "embedded", wantPort: 80},
		{name: "valid override", embedded: string(good), override: other, hasOverride: true, wantSource: "fw_cfg", wantPort: 8081},
		{name: "invalid override keeps embedded", embedded: string(good), override: bad, hasOverride: true,
			wantSource: "embedded", wantPort: 80, wantReject: "opt/bareproxy/config:19: unknown keyword \"severr\""},
		{name: "empty override keeps embedded", embedded: string(good), override: "", hasOverride: true,
			wantSource: "embedded", wantPort: 80, wantReject: "opt/bareproxy/config"},
		{name: "unreadable override keeps embedded", embedded: string(good), overrideErr: errors.New("too large"),
			wantSource: "embedded", wantPort: 80, wantReject: "unreadable: too large"},
		{name: "bad embedded", embedded: bad, wantErr: "embedded.cfg:19: unknown keyword \"severr\""},
		{name: "bad embedded, good override", embedded: bad, override: other, hasOverride: true, wantErr: "embedded.cfg:19"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bc, err := chooseConfig([]byte(tc.embedded), []byte(tc.override), tc.hasOverride, tc.overrideErr)
			if tc.wantErr != "" {
				if err == nil || !errors.Is(err, errBadEmbedded) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want errBadEmbedded containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if bc.source != tc.wantSource {
				t.Errorf("source = %q, want %q", bc.source, tc.wantSource)
			}
			if got := bc.cfg.Frontends[0].Binds[0].Addr.Port(); got != tc.wantPort {
				t.Errorf("bind port = %d, want %d", got, tc.wantPort)
			}
			switch {
			case tc.wantReject == "" && bc.rejected != nil:
				t.Errorf("rejected = %v, want nil", bc.rejected)
			case tc.wantReject != "" && (bc.rejected == nil || !strings.Contains(bc.rejected.Error(), tc.wantReject)):
				t.Errorf("rejected = %v, want it to contain %q", bc.rejected, tc.wantReject)
			}
		})
	}
}
