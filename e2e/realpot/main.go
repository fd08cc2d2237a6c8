// Command realpot runs the project's tests against pot's own shell scripts
// (a checkout of bsdpot/pot named by POT_SCRIPTS) on the FreeBSD emulation
// of cmd/fbsdemu: `make test-realpot`. Development and testing only.
//
// Outside the emulation it builds fbsdemu and re-runs itself inside `fbsdemu
// run`; inside it sets up pot as an operator would on a fresh FreeBSD host —
// `pot init`, a base made from a release tarball (`pot create -t single -b`,
// the tarball and its MANIFEST being busybox's file system here), `pot
// snapshot` and `pot export` of an image — and then runs the suites named by
// -suites against that pot, with the image served from a file:// URL.
package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/bsdpot/nomad-pot-driver/e2e/cluster"
)

// jailPrograms are what the image holds for the tests' tasks, each built
// static into bin/ (file) and kept in the image at path: the contract
// suite's test binary (its echo server behind exported ports) and
// e2e/webserver (the driver and e2e suites' HTTP service).
var jailPrograms = []struct {
	file, path string
	build      []string // go arguments, the output added
}{
	{"realpot-jailhelper-pot.test", "/usr/local/bin/pot-contract-helper", []string{"test", "-c", "-ldflags=-s -w", "./pot"}},
	{"realpot-webserver", "/usr/local/bin/pot-webserver", []string{"build", "-ldflags=-s -w", "./e2e/webserver"}},
}

// potCache is pot's POT_CACHE (its default, in the emulated machine).
const potCache = "/var/cache/pot"

const (
	// The emulated release and the image the tests prepare pots from:
	// the e2e suite's, under its name (cluster.ImageName), which the
	// other suites take from the environment.
	release  = "14.3"
	image    = cluster.ImageName
	imageTag = cluster.ImageTag
)

func main() {
	inside := flag.Bool("inside", false, "(internal) run inside the emulation")
	suites := flag.String("suites", "contract", "comma-separated: contract, driver, e2e")
	run := flag.String("run", "", "go test -run pattern for every suite")
	keep := flag.Bool("keep", false, "keep the emulation's folder (for debugging)")
	flag.Parse()
	if *inside {
		os.Exit(insideMain(*suites, *run))
	}
	os.Exit(outsideMain(*suites, *run, *keep))
}

func fail(format string, a ...any) int {
	fmt.Fprintf(os.Stderr, "realpot: "+format+"\n", a...)
	return 1
}

// repoRoot is the module's root (the tests run from there).
func repoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", err
	}
	return filepath.Dir(strings.TrimSpace(string(out))), nil
}

func outsideMain(suites, run string, keep bool) int {
	for _, s := range strings.Split(suites, ",") {
		if _, ok := suiteByName[s]; !ok {
			return fail("unknown suite %q (contract, driver, e2e)", s)
		}
	}
	scripts := os.Getenv("POT_SCRIPTS")
	if scripts == "" {
		fmt.Println("realpot: POT_SCRIPTS is not set: skipping the tests against pot's own scripts.")
		fmt.Println("  Get a checkout of pot 0.16 (https://github.com/bsdpot/pot; never commit it here), e.g.")
		fmt.Println("    git clone --branch 0.16.0 https://github.com/bsdpot/pot /var/tmp/pot")
		fmt.Println("  then: make test-realpot POT_SCRIPTS=/var/tmp/pot")
		return 0
	}
	scripts, err := filepath.Abs(scripts)
	if err != nil {
		return fail("%v", err)
	}
	for _, f := range []string{"bin/pot", "share/pot/common.sh", "etc/pot/pot.default.conf"} {
		if _, err := os.Stat(filepath.Join(scripts, f)); err != nil {
			return fail("POT_SCRIPTS=%s is no pot checkout: %v", scripts, err)
		}
	}
	if os.Geteuid() != 0 {
		return fail("needs root (the emulation uses namespaces, mounts and chroot)")
	}
	if !staticBusybox() {
		return fail("the jails' file system is busybox's: apt-get install busybox-static")
	}
	root, err := repoRoot()
	if err != nil {
		return fail("go env GOMOD: %v", err)
	}
	bin := filepath.Join(root, "bin")
	emu := filepath.Join(bin, "fbsdemu")
	self := filepath.Join(bin, "realpot")
	// Everything is built out here: the emulated machine has no network
	// (and so no module proxy).
	for _, b := range [][2]string{{emu, "./cmd/fbsdemu"}, {self, "./e2e/realpot"}} {
		// Static: copies of fbsdemu are the jails' sysctl and ip6addrctl.
		c := exec.Command("go", "build", "-o", b[0], b[1])
		c.Dir, c.Stdout, c.Stderr = root, os.Stdout, os.Stderr
		c.Env = append(os.Environ(), "CGO_ENABLED=0")
		if err := c.Run(); err != nil {
			return fail("go build %s: %v", b[1], err)
		}
	}
	for _, jp := range jailPrograms {
		args := append(append([]string{}, jp.build[:len(jp.build)-1]...), "-o", filepath.Join(bin, jp.file), jp.build[len(jp.build)-1])
		hc := exec.Command("go", args...)
		hc.Dir, hc.Stdout, hc.Stderr = root, os.Stdout, os.Stderr
		hc.Env = append(os.Environ(), "CGO_ENABLED=0")
		if err := hc.Run(); err != nil {
			return fail("go %s (for the image): %v", strings.Join(args, " "), err)
		}
	}
	env := []string{"POT_SCRIPTS=" + scripts}
	if slices.Contains(strings.Split(suites, ","), "e2e") {
		// The emulated machine cannot build them (no network): built
		// here once per machine, then taken from the cache.
		agents, err := cluster.AgentsDir(context.Background(), root, os.Stderr, 30*time.Second)
		if err != nil {
			return fail("the e2e suite's agents: %v", err)
		}
		env = append(env, "NOMAD_POT_AGENTS_BIN="+agents)
	}
	for _, s := range strings.Split(suites, ",") {
		su, ok := suiteByName[s]
		if !ok {
			return fail("unknown suite %q (contract, driver, e2e)", s)
		}
		args := []string{"test", "-c", "-race", "-o", filepath.Join(bin, "realpot-"+s+".test")}
		args = append(args, su.buildArgs...)
		c := exec.Command("go", append(args, "./"+su.pkg)...)
		c.Dir, c.Stdout, c.Stderr = root, os.Stdout, os.Stderr
		if err := c.Run(); err != nil {
			return fail("go test -c %s: %v", su.pkg, err)
		}
	}
	args := []string{"run"}
	if keep {
		args = append(args, "-keep")
	}
	args = append(args, "--", self, "-inside", "-suites", suites, "-run", run)
	c := exec.Command(emu, args...)
	c.Dir, c.Stdin, c.Stdout, c.Stderr = root, os.Stdin, os.Stdout, os.Stderr
	c.Env = append(os.Environ(), env...)
	start := time.Now()
	err = c.Run()
	fmt.Printf("realpot: %s in %s\n", map[bool]string{true: "passed", false: "FAILED"}[err == nil], time.Since(start).Round(time.Second))
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		return 1
	}
	return 0
}

func staticBusybox() bool {
	out, err := exec.Command("file", "-L", "/bin/busybox").Output()
	if err != nil {
		_, serr := os.Stat("/bin/busybox")
		return serr == nil
	}
	return strings.Contains(string(out), "statically linked") || strings.Contains(string(out), "static-pie")
}

// potCmd runs pot with the emulation's PATH.
func potCmd(args ...string) error {
	c := exec.Command("pot", args...)
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	if err := c.Run(); err != nil {
		return fmt.Errorf("pot %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return nil
}

func insideMain(suites, run string) int {
	scripts := os.Getenv("POT_SCRIPTS")
	os.Setenv("PATH", os.Getenv("PATH")+":"+filepath.Join(scripts, "bin"))
	start := time.Now()
	imageDir, err := setupPot()
	if err != nil {
		return fail("setting up pot: %v\n(the machine's syslog: $FBSDEMU_STATE/messages)", err)
	}
	fmt.Printf("realpot: pot initialized and image %s_%s exported in %s\n", image, imageTag, time.Since(start).Round(time.Millisecond))
	env := []string{
		"POT_CONTRACT_BIN=" + filepath.Join(scripts, "bin", "pot"),
		"POT_CONTRACT_IMAGE_URL=file://" + imageDir,
		"POT_CONTRACT_IMAGE=" + image,
		"POT_CONTRACT_TAG=" + imageTag,
		"POT_CONTRACT_JAIL_HELPER=" + jailPrograms[0].path,
		"POT_DRIVER_TEST_WEBSERVER=" + jailPrograms[1].path,
		"POT_DRIVER_TEST_BIN=" + filepath.Join(scripts, "bin", "pot"),
		"POT_DRIVER_TEST_IMAGE=" + filepath.Join(imageDir, image+"_"+imageTag+".xz"),
		"E2E_POT_BIN=" + filepath.Join(scripts, "bin", "pot"),
		"E2E_IMAGE_DIR=" + imageDir,
		"E2E_WEBSERVER=" + jailPrograms[1].path,
		"E2E_POT_CACHE=" + potCache,
	}
	root, err := repoRoot()
	if err != nil {
		return fail("%v", err)
	}
	rc := 0
	for _, s := range strings.Split(suites, ",") {
		su := suiteByName[s]
		args := []string{"-test.count=1", "-test.timeout=" + su.timeout, "-test.run=" + orDefault(run, su.run)}
		if os.Getenv("REALPOT_VERBOSE") != "" {
			args = append(args, "-test.v")
		}
		bin := filepath.Join(root, "bin", "realpot-"+s+".test")
		fmt.Printf("realpot: %s (in %s) %s\n", bin, su.pkg, strings.Join(args, " "))
		c := exec.Command(bin, args...)
		c.Dir, c.Stdout, c.Stderr = filepath.Join(root, su.pkg), os.Stdout, os.Stderr
		c.Env = append(os.Environ(), env...)
		if err := c.Run(); err != nil {
			fmt.Printf("realpot: suite %s FAILED: %v\n", s, err)
			rc = 1
		}
	}
	return rc
}

// suite is one test package run against pot's scripts.
type suite struct {
	pkg       string // folder, relative to the module's root
	buildArgs []string
	run       string // default -run
	timeout   string
}

var suiteByName = map[string]suite{
	"contract": {pkg: "pot", run: "Contract", timeout: "20m"},
	"driver":   {pkg: "driver", run: ".", timeout: "40m"},
	"e2e":      {pkg: "e2e", buildArgs: []string{"-tags", "e2e"}, run: ".", timeout: "40m"},
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// setupPot initializes pot, creates the base pot from the emulated release
// tarball and exports the test image; it returns the image's folder.
func setupPot() (string, error) {
	// As an operator with pf configured: pf_rules names a rules file with
	// pot's anchors (pot init checks it; the emulation's /etc is the
	// host's, so the file is in the machine's /usr/local/etc), which
	// vnet-start loads when pf lacks them. -s: no syslogd changes.
	const pfRules = "/usr/local/etc/pf.conf"
	if out, err := exec.Command("sysrc", "pf_rules="+pfRules).CombinedOutput(); err != nil {
		return "", fmt.Errorf("sysrc pf_rules: %v: %s", err, out)
	}
	if err := os.WriteFile(pfRules, []byte("nat-anchor pot-nat\nrdr-anchor \"pot-rdr/*\"\n"), 0o644); err != nil {
		return "", err
	}
	if err := potCmd("init", "-s"); err != nil {
		return "", err
	}
	if err := installRelease(); err != nil {
		return "", err
	}
	base := image
	if err := potCmd("create", "-p", base, "-t", "single", "-b", release); err != nil {
		return "", err
	}
	if err := potCmd("snapshot", "-p", base); err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "realpot-images-")
	if err != nil {
		return "", err
	}
	if err := potCmd("export", "-p", base, "-t", imageTag, "-D", dir); err != nil {
		return "", err
	}
	if err := potCmd("destroy", "-p", base); err != nil {
		return "", err
	}
	return dir, nil
}

// installRelease puts the emulated FreeBSD release where pot looks for a
// downloaded one: POT_CACHE/14.3-RELEASE_base.txz and its sha256 in
// /usr/local/share/freebsd/MANIFESTS (package freebsd-release-manifests).
func installRelease() error {
	tarball, err := releaseTarball()
	if err != nil {
		return err
	}
	rel := release + "-RELEASE"
	if err := os.WriteFile(filepath.Join(potCache, rel+"_base.txz"), tarball, 0o644); err != nil {
		return err
	}
	sum := sha256.Sum256(tarball)
	manifests := "/usr/local/share/freebsd/MANIFESTS"
	if err := os.MkdirAll(manifests, 0o755); err != nil {
		return err
	}
	line := fmt.Sprintf("base.txz\t%s\t27000\tbase\t\"Base system\"\ton\n", hex.EncodeToString(sum[:]))
	return os.WriteFile(filepath.Join(manifests, "amd64-amd64-"+rel), []byte(line), 0o644)
}

// busyboxApplets are the programs of the jails' file system (busybox
// applets), by folder.
var busyboxApplets = map[string][]string{
	"bin": {"sh", "cat", "cp", "mkdir", "sleep", "printf", "echo", "env", "ls", "rm", "touch", "kill",
		"true", "false", "test", "[", "sed", "grep", "head", "tail", "wc", "tr", "date", "hostname",
		"id", "pwd", "ln", "mv", "chmod", "ps", "sync", "stty", "tty", "readlink", "realpath", "dd", "cut", "awk", "xargs", "find", "stat", "nc"},
	"usr/bin": {"tee", "seq", "yes", "basename", "dirname", "expr", "timeout", "nohup", "whoami", "od", "uname"},
}

// releaseTarball is the emulated base.txz: busybox, copies of fbsdemu as
// the jail's own sysctl and ip6addrctl (tinirc calls them), root's account.
func releaseTarball() ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dir := func(name string, mode int64) error {
		return tw.WriteHeader(&tar.Header{Name: name + "/", Mode: mode, Typeflag: tar.TypeDir, ModTime: time.Now()})
	}
	file := func(name string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(data)), Typeflag: tar.TypeReg, ModTime: time.Now()}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	link := func(name, target string) error {
		return tw.WriteHeader(&tar.Header{Name: name, Linkname: target, Mode: 0o777, Typeflag: tar.TypeSymlink, ModTime: time.Now()})
	}
	for _, d := range []string{"bin", "sbin", "usr", "usr/bin", "usr/sbin", "usr/local", "usr/local/bin", "etc", "root", "dev", "var", "var/run", "var/log", "usr/home"} {
		if err := dir(d, 0o755); err != nil {
			return nil, err
		}
	}
	if err := dir("tmp", 0o1777); err != nil {
		return nil, err
	}
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return nil, err
	}
	if err := file("bin/busybox", 0o755, bb); err != nil {
		return nil, err
	}
	for d, applets := range busyboxApplets {
		for _, a := range applets {
			target := "busybox"
			if d != "bin" {
				target = "../../bin/busybox"
			}
			if err := link(d+"/"+a, target); err != nil {
				return nil, err
			}
		}
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	emu, err := os.ReadFile(filepath.Join(filepath.Dir(self), "fbsdemu"))
	if err != nil {
		return nil, err
	}
	if err := file("sbin/fbsdemu", 0o755, emu); err != nil {
		return nil, err
	}
	// tinirc configures a bridge pot's epair with ifconfig and route;
	// fbsdemu's ifconfig runs ip (busybox's in here).
	if err := link("sbin/ip", "../bin/busybox"); err != nil {
		return nil, err
	}
	for _, t := range []string{"sbin/sysctl", "usr/sbin/ip6addrctl", "sbin/ifconfig", "sbin/route"} {
		rel, _ := filepath.Rel(filepath.Dir(t), "sbin/fbsdemu")
		if err := link(t, rel); err != nil {
			return nil, err
		}
	}
	// The tasks' servers (POT_CONTRACT_JAIL_HELPER,
	// POT_DRIVER_TEST_WEBSERVER, E2E_WEBSERVER).
	for _, jp := range jailPrograms {
		data, err := os.ReadFile(filepath.Join(filepath.Dir(self), jp.file))
		if err != nil {
			return nil, err
		}
		if err := file(strings.TrimPrefix(jp.path, "/"), 0o755, data); err != nil {
			return nil, err
		}
	}
	etc := map[string]string{
		"etc/passwd":     "root:*:0:0:Charlie &:/root:/bin/sh\nnobody:*:65534:65534:Unprivileged user:/nonexistent:/usr/sbin/nologin\n",
		"etc/group":      "wheel:*:0:root\nnogroup:*:65533:\nnobody:*:65534:\n",
		"etc/rc.conf":    "",
		"etc/hosts":      "::1 localhost\n127.0.0.1 localhost\n",
		"etc/shells":     "/bin/sh\n",
		"etc/os-release": "NAME=FreeBSD\nVERSION=\"" + release + "-RELEASE\"\nID=freebsd\n",
		// What the e2e suite's exec test reads from its image.
		"etc/image-release": cluster.ImageRelease,
	}
	for name, body := range etc {
		if err := file(name, 0o644, []byte(body)); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return xz(buf.Bytes())
}

func xz(data []byte) ([]byte, error) {
	c := exec.Command("xz", "-c", "-0", "-T1")
	c.Stdin = bytes.NewReader(data)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	if err := c.Run(); err != nil {
		return nil, fmt.Errorf("xz: %v: %s", err, errb.String())
	}
	return out.Bytes(), nil
}
