package freebsd

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/bsdpot/nomad-pot-driver/internal/emulation"
)

// TestHostOnEmulation runs the Host FreeBSD gets, through the FreeBSD
// emulation's sysctl, pfctl, zfs and zpool: what Detect finds, every
// reading, and that each follows the machine's state.
func TestHostOnEmulation(t *testing.T) {
	m := emulation.New(t)
	m.Setenv(t)
	m.Pool("zroot", "zroot/pot")
	ctx := context.Background()
	h, err := Detect(ctx, Tools{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := h.(*toolHost); !ok {
		t.Fatalf("Detect on FreeBSD's tools: %T", h)
	}
	if rel, err := h.Release(); err != nil || rel != "14.3-RELEASE" {
		t.Errorf("Release: %q %v", rel, err)
	}
	if st, err := h.Racct(); st != RacctEnabled || err != nil {
		t.Errorf("Racct: %v %v", st, err)
	}
	if mhz, err := h.ClockRateMHz(); err != nil || mhz <= 0 {
		t.Errorf("ClockRateMHz: %d %v", mhz, err)
	}
	if v, err := h.VNET(); !v || err != nil {
		t.Errorf("VNET: %v %v", v, err)
	}
	if msgs, err := h.KernelMessages(); err != nil || msgs != "" {
		t.Errorf("KernelMessages: %q %v", msgs, err)
	}
	if on, err := h.PF(ctx); on || err != nil {
		t.Errorf("PF before pfctl -e: %v %v", on, err)
	}
	r, err := h.ZFS(ctx, "zroot/pot")
	if ok, why := ZFSHealthy(r, err); !ok || r.Pool != "zroot" || r.RootAvail == 0 || r.PoolFree == 0 {
		t.Errorf("ZFS: %+v %v (%s)", r, err, why)
	}

	m.Run("sysctl", "kern.racct.enable=0")
	m.Run("pfctl", "-e")
	if st, err := h.Racct(); st != RacctDisabled || err != nil {
		t.Errorf("Racct after kern.racct.enable=0: %v %v", st, err)
	}
	if on, err := h.PF(ctx); !on || err != nil {
		t.Errorf("PF after pfctl -e: %v %v", on, err)
	}
	_, err = h.ZFS(ctx, "zroot/gone")
	var ze *ZFSError
	if !errors.As(err, &ze) || !ze.Missing {
		t.Errorf("ZFS of a missing dataset: %v", err)
	}
	if _, err := h.JailUsage("a:b"); err == nil || !strings.Contains(err.Error(), "invalid jail name") {
		t.Errorf("JailUsage of a bad name: %v", err)
	}
}
