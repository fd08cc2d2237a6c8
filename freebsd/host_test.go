package freebsd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestZFSHealthy(t *testing.T) {
	ok := ZFSReading{Root: "zroot/pot", Pool: "zroot", PoolHealth: "ONLINE", RootAvail: 1, PoolFree: 2}
	if h, why := ZFSHealthy(ok, nil); !h || why != "" {
		t.Fatalf("online: %v %q", h, why)
	}
	for _, c := range []struct {
		r    ZFSReading
		err  error
		says string
	}{
		{ZFSReading{Root: "zroot/pot", Pool: "zroot", PoolHealth: "DEGRADED"}, nil, "ZFS pool zroot of pot's root zroot/pot is DEGRADED, not ONLINE"},
		{ZFSReading{Root: "zroot/pot", Pool: "zroot"}, nil, "is unknown, not ONLINE"},
		{ZFSReading{Root: "zroot/pot"}, &ZFSError{What: "dataset zroot/pot", Missing: true}, `pot's ZFS root: dataset zroot/pot does not exist (pot config zfs_root = "zroot/pot")`},
		{ZFSReading{Root: "zroot/pot"}, &ZFSError{What: "pool zroot", Err: errors.New("exit status 2")}, `pot's ZFS root "zroot/pot": reading pool zroot: exit status 2`},
	} {
		h, why := ZFSHealthy(c.r, c.err)
		if h || !strings.Contains(why, c.says) {
			t.Errorf("%+v %v: %v %q", c.r, c.err, h, why)
		}
	}
}

func TestParsePfctlInfo(t *testing.T) {
	on := "Status: Enabled for 0 days 01:02:03           Debug: Urgent\n\nState Table                          Total             Rate\n"
	if v, err := ParsePfctlInfo(on); err != nil || !v {
		t.Fatalf("enabled: %v %v", v, err)
	}
	if v, err := ParsePfctlInfo("Status: Disabled for 0 days 00:00:10          Debug: Urgent\n"); err != nil || v {
		t.Fatalf("disabled: %v %v", v, err)
	}
	for _, bad := range []string{"", "No ALTQ support in kernel\n", "Status: Sleeping\n"} {
		if _, err := ParsePfctlInfo(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestPoolName(t *testing.T) {
	for in, want := range map[string]string{"zroot/pot": "zroot", "tank": "tank", "a/b/c": "a", "": ""} {
		if got := PoolName(in); got != want {
			t.Errorf("%q: %q", in, got)
		}
	}
}

// fakeZFS installs zfs and zpool scripts answering as FreeBSD 14's do, and
// puts them first on PATH (go-zfs runs them by name).
func fakeZFS(t *testing.T, health string, datasetExists bool) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("needs /bin/sh")
	}
	dir := t.TempDir()
	zfsOut := "zroot/pot\t-\t1258291200\t51539607552\t/opt/pot\toff\tfilesystem\t-\t0\t98304\t0\t1310720\t98304"
	zfs := fmt.Sprintf(`#!/bin/sh
[ "$1 $2 $3" = "list -Hp -o" ] || { echo "unexpected: $*" >&2; exit 2; }
case "$5" in
zroot/pot) [ %s = yes ] && { printf '%%s\n' '%s'; exit 0; } ;;
esac
echo "cannot open '$5': dataset does not exist" >&2
exit 1
`, map[bool]string{true: "yes", false: "no"}[datasetExists], zfsOut)
	zpool := fmt.Sprintf(`#!/bin/sh
[ "$1 $2" = "get -Hp" ] || { echo "unexpected: $*" >&2; exit 2; }
[ "$4" = zroot ] || { echo "cannot open '$4': no such pool" >&2; exit 1; }
printf 'zroot\tname\tzroot\t-\n'
printf 'zroot\thealth\t%s\t-\n'
printf 'zroot\tallocated\t12884901888\t-\n'
printf 'zroot\tsize\t107374182400\t-\n'
printf 'zroot\tfree\t94489280512\t-\n'
printf 'zroot\treadonly\toff\t-\n'
printf 'zroot\tdedupratio\t1.00x\t-\n'
printf 'zroot\tfragmentation\t3%%%%\t-\n'
printf 'zroot\tfreeing\t0\t-\n'
printf 'zroot\tleaked\t0\t-\n'
`, health)
	for name, body := range map[string]string{"zfs": zfs, "zpool": zpool} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// TestReadZFSParsesToolOutput runs go-zfs against zfs and zpool stand-ins
// that print what FreeBSD's print for `zfs list -Hp` and `zpool get -Hp`.
func TestReadZFSParsesToolOutput(t *testing.T) {
	fakeZFS(t, "ONLINE", true)
	r, err := ReadZFS(context.Background(), "zroot/pot")
	if err != nil {
		t.Fatal(err)
	}
	want := ZFSReading{Root: "zroot/pot", RootAvail: 51539607552, Pool: "zroot", PoolHealth: "ONLINE", PoolFree: 94489280512}
	if r != want {
		t.Fatalf("got %+v\nwant %+v", r, want)
	}
	if ok, why := ZFSHealthy(r, err); !ok {
		t.Fatal(why)
	}

	fakeZFS(t, "DEGRADED", true)
	r, err = ReadZFS(context.Background(), "zroot/pot")
	if ok, why := ZFSHealthy(r, err); ok || !strings.Contains(why, "DEGRADED") {
		t.Fatalf("degraded: %v %q", ok, why)
	}

	fakeZFS(t, "ONLINE", false)
	r, err = ReadZFS(context.Background(), "zroot/pot")
	var ze *ZFSError
	if !errors.As(err, &ze) || !ze.Missing {
		t.Fatalf("missing dataset: %v", err)
	}
	if ok, why := ZFSHealthy(r, err); ok || !strings.Contains(why, "dataset zroot/pot does not exist") {
		t.Fatalf("missing: %v %q", ok, why)
	}

	_, err = ReadZFS(context.Background(), "-o")
	if err == nil {
		t.Fatal("an option as dataset name accepted")
	}
}

// TestDetectOffFreeBSD: a machine whose sysctl knows no kern.ostype
// FreeBSD (Linux's, or none) gets the Host that says ErrUnsupported.
func TestDetectOffFreeBSD(t *testing.T) {
	dir := t.TempDir()
	// Linux's procps sysctl has no kern.ostype.
	linux := "#!/bin/sh\necho \"sysctl: cannot stat /proc/sys/kern/ostype: No such file or directory\" >&2\nexit 255\n"
	if err := os.WriteFile(filepath.Join(dir, "sysctl"), []byte(linux), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{dir, t.TempDir()} {
		t.Setenv("PATH", path)
		h, err := Detect(context.Background(), Tools{})
		if err != nil {
			t.Fatalf("PATH=%s: Detect: %v", path, err)
		}
		if st, err := h.Racct(); st != RacctUnsupported || !errors.Is(err, ErrUnsupported) {
			t.Errorf("Racct: %v %v", st, err)
		}
		if _, err := h.JailUsage("x"); !errors.Is(err, ErrUnsupported) {
			t.Errorf("JailUsage: %v", err)
		}
		if _, err := h.ZFS(context.Background(), "zroot/pot"); !errors.Is(err, ErrUnsupported) {
			t.Errorf("ZFS: %v", err)
		}
	}
}
