package dhcp

import (
	"testing"
	"time"
)

func TestLeaseTimes(t *testing.T) {
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name                       string
		lease, renew, rebind       time.Duration
		wantT1, wantT2, wantExpiry time.Duration
	}{
		{"server's times", time.Hour, 20 * time.Minute, 40 * time.Minute, 20 * time.Minute, 40 * time.Minute, time.Hour},
		{"defaults", time.Hour, 0, 0, 30 * time.Minute, 52*time.Minute + 30*time.Second, time.Hour},
		{"T2 past expiry", time.Hour, 20 * time.Minute, 2 * time.Hour, 20 * time.Minute, 52*time.Minute + 30*time.Second, time.Hour},
		{"T1 past T2", time.Hour, 50 * time.Minute, 40 * time.Minute, 30 * time.Minute, 40 * time.Minute, time.Hour},
		{"T1 past defaulted T2, under half", time.Hour, 2 * time.Hour, 0, 30 * time.Minute, 52*time.Minute + 30*time.Second, time.Hour},
		{"zero lease floors at a second", 0, 0, 0, 500 * time.Millisecond, 875 * time.Millisecond, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t1, t2, exp := leaseTimes(Lease{Duration: tc.lease, Renew: tc.renew, Rebind: tc.rebind, Acquired: at})
			if got := [3]time.Duration{t1.Sub(at), t2.Sub(at), exp.Sub(at)}; got != [3]time.Duration{tc.wantT1, tc.wantT2, tc.wantExpiry} {
				t.Errorf("T1, T2, expiry = %v, want [%v %v %v]", got, tc.wantT1, tc.wantT2, tc.wantExpiry)
			}
		})
	}
}
