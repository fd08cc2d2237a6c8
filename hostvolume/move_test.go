package hostvolume

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/bsdpot/nomad-pot-driver/internal/emulation"
)

// TestMoveVolume: volume send | volume receive, twice (everything, then
// -from the first pass's snapshot: only the changes), moves a volume's
// data into the fscomp of another name (one emulated pool stands for
// both clients); create of a volume of that name adopts it with its new
// ID; receive refuses a dataset that is no volume being moved in; create
// still refuses a foreign dataset that was never received.
func TestMoveVolume(t *testing.T) {
	if !emulation.InMountNamespace(t) {
		return
	}
	m, _, client := emulatedPot(t)
	p := &Plugin{Pot: client}
	var out bytes.Buffer
	if code := p.Run(context.Background(), []string{OpCreate}, envOf(createEnv()), &out, &out); code != 0 {
		t.Fatalf("create: %s", out.String())
	}
	const src, dst = "zroot/pot/fscomp/default_data", "zroot/pot/fscomp/default_moved"
	mountpoint := func(ds string) string {
		return strings.TrimSpace(m.Run("zfs", "get", "-H", "-o", "value", "mountpoint", ds))
	}
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(mountpoint(src), name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	big := strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB
	write("big", big)
	write("count", "1\n")

	o := &Operator{Pot: client}
	command := func(stdin io.Reader, args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := o.Command(context.Background(), args, stdin, &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}
	// pass sends volume data (ARGS) into volume moved; it returns the
	// stream's size and the next -from.
	pass := func(args ...string) (int, string) {
		t.Helper()
		code, stream, said := command(nil, append(append([]string{"send"}, args...), "data")...)
		if code != 0 {
			t.Fatalf("send %v: %d %s", args, code, said)
		}
		next := regexp.MustCompile(`-from (move-\d+) data`).FindStringSubmatch(said)
		if next == nil {
			t.Fatalf("send did not name the next -from: %q", said)
		}
		if code, got, errs := command(strings.NewReader(stream), "receive", "moved"); code != 0 || !strings.Contains(got, "received ") {
			t.Fatalf("receive: %d %q %q", code, got, errs)
		}
		return len(stream), next[1]
	}
	full, next := pass()
	if full < len(big) {
		t.Fatalf("the first pass sent %d bytes, less than the data (%d)", full, len(big))
	}
	write("count", "2\n")
	inc, _ := pass("-from", next)
	if inc >= len(big) {
		t.Errorf("the second pass sent %d bytes: more than the unchanged 1 MiB file, not only the changes", inc)
	}
	for name, want := range map[string]string{"big": big, "count": "2\n"} {
		if got, err := os.ReadFile(filepath.Join(mountpoint(dst), name)); err != nil || string(got) != want {
			t.Errorf("%s on the received dataset: %d bytes (%v), want %d", name, len(got), err, len(want))
		}
	}
	if got := strings.TrimSpace(m.Run("zfs", "get", "-H", "-o", "value", "quota", dst)); got != "64M" && got != "67108864" {
		t.Errorf("the received dataset's quota is %s, want the volume's 64M (sent with its properties)", got)
	}

	// Adopted by the volume of its name, with the new ID.
	const newID = "7a1c1f6e-2b7e-4a55-9c61-0d4f2b8e9a10"
	out.Reset()
	if code := p.Run(context.Background(), []string{OpCreate}, envOf(createEnv(EnvVolumeName, "moved", EnvVolumeID, newID)), &out, &out); code != 0 {
		t.Fatalf("create of the moved volume: %s", out.String())
	}
	if got := strings.TrimSpace(m.Run("zfs", "get", "-H", "-o", "value", VolumeIDProperty, dst)); got != newID {
		t.Errorf("after create the dataset's volume ID is %q, want %s", got, newID)
	}
	if got, _ := os.ReadFile(filepath.Join(mountpoint(dst), "count")); string(got) != "2\n" {
		t.Errorf("adoption changed the data: count %q", got)
	}
	// Now a volume: another pass into it is refused, as into any volume.
	code, _, said := command(nil, "send", "data")
	if code != 0 {
		t.Fatalf("send: %s", said)
	}
	_, stream, _ := command(nil, "send", "data")
	if code, _, errs := command(strings.NewReader(stream), "receive", "moved"); code != 1 || !strings.Contains(errs, "not a volume being moved here") {
		t.Errorf("receive into an adopted volume: %d %q", code, errs)
	}

	// A dataset that was never received is not adopted.
	m.Run("zfs", "create", "zroot/pot/fscomp/default_foreign")
	out.Reset()
	if code := p.Run(context.Background(), []string{OpCreate}, envOf(createEnv(EnvVolumeName, "foreign")), &out, &out); code == 0 || !strings.Contains(out.String(), "exists and is not volume") {
		t.Errorf("create over a foreign dataset: %d %s", code, out.String())
	}
	if code, _, errs := command(nil, "receive", "-from", "x", "moved"); code != 2 {
		t.Errorf("receive -from is a usage error: %d %q", code, errs)
	}
}
