package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bsdpot/nomad-pot-driver/internal/imagehash"
)

// toolsDir builds fbsdemu into a folder of the test with a link per tool,
// and returns the folder and an environment whose PATH starts there.
func toolsDir(t *testing.T) (string, []string) {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "fbsdemu")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	if out, err := exec.Command(bin, "install", filepath.Join(dir, "bin")).CombinedOutput(); err != nil {
		t.Fatalf("fbsdemu install: %v\n%s", err, out)
	}
	state := filepath.Join(dir, "state")
	if err := os.Mkdir(state, 0o755); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "PATH="+filepath.Join(dir, "bin")+":"+os.Getenv("PATH"), stateEnv+"="+state, "TMPDIR="+dir)
	return dir, env
}

// runTool runs a shell command line with the emulated tools first on PATH.
func runTool(t *testing.T, env []string, script string) (string, int) {
	t.Helper()
	c := exec.Command("bash", "-c", script)
	c.Env = env
	out, err := c.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", script, err)
	}
	return string(out), code
}

func TestBSDTools(t *testing.T) {
	dir, env := toolsDir(t)
	cases := []struct {
		name, script, want string
		code               int
	}{
		// pot's set-hosts names its temp file without Xs (an unset suffix
		// variable): BSD mktemp creates exactly that name, and fails if it
		// exists; GNU mktemp refuses such a template.
		{"mktemp without Xs", "mktemp " + dir + "/fixed && mktemp " + dir + "/fixed", dir + "/fixed\nmktemp: mkstemp failed on " + dir + "/fixed: File exists\n", 1},
		{"mktemp -t prefix", "mktemp -t pfx | grep -c '^" + dir + "/pfx\\.[0-9A-Za-z]\\{8\\}$'", "1\n", 0},
		// -t with a path prefix, as pot's stop.sh writes it, fails on FreeBSD.
		{"mktemp -t with a path", "mktemp -t /x/potcpu.XXXXXX", "mktemp: mkstemp failed on " + dir + "//x/potcpu.XXXXXX.XXXXXXXX: No such file or directory\n", 1},
		{"sed -i ''", "printf 'a\\nb\\n' > " + dir + "/f && sed -i '' -e '/^a$/d' " + dir + "/f && cat " + dir + "/f", "b\n", 0},
		{"tail -r", "printf '1\\n2\\n3\\n' | tail -r", "3\n2\n1\n", 0},
		{"stat -f %z", "printf 12345 > " + dir + "/s && stat -f %z " + dir + "/s", "5\n", 0},
		{"lockf runs and removes", "lockf " + dir + "/lk sh -c 'exit 7'; echo $?; test -e " + dir + "/lk || echo gone", "7\ngone\n", 0},
		{"lockf -k keeps", "lockf -k " + dir + "/lk2 true; test -e " + dir + "/lk2 && echo kept", "kept\n", 0},
		{"sysctl -n", "sysctl -n kern.osrelease hw.machine", "14.3-RELEASE\namd64\n", 0},
		{"sysctl set and read back", "sysctl kern.racct.enable=0 >/dev/null && sysctl -n kern.racct.enable", "0\n", 0},
		{"sysctl unknown", "sysctl -n kern.nosuch", "sysctl: unknown oid 'kern.nosuch'\n", 1},
		{"sysctl -q unknown", "sysctl -qn kern.nosuch", "", 1},
		{"sysrc default", "sysrc -n pf_rules", "/etc/pf.conf\n", 0},
		{"sysrc -f set", "sysrc -f " + dir + "/rc.conf defaultrouter=10.0.0.1 && sysrc -f " + dir + "/rc.conf -n defaultrouter", "defaultrouter:  -> 10.0.0.1\n10.0.0.1\n", 0},
		// pot import's hash check, on what pot export wrote: potsim and
		// the tests' image servers write .skein files with imagehash.
		{"skein1024 -q is imagehash's", "printf image > " + dir + "/img && echo - > " + dir + "/img.meta && cat " + dir + "/img " + dir + "/img.meta | skein1024 -q", string(imagehash.Skein([]byte("image"), []byte("-\n"))), 0},
		{"fetch file://", "printf data > " + dir + "/src && fetch file://" + dir + "/src --output " + dir + "/dst && cat " + dir + "/dst", "data", 0},
		{"fetch missing file", "fetch file://" + dir + "/nosuch -o " + dir + "/x", "fetch: file://" + dir + "/nosuch: No such file or directory\n", 1},
		{"fetch off this machine", "fetch http://192.0.2.1/x -o " + dir + "/x", "fetch: http://192.0.2.1/x: No address record\n", 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, code := runTool(t, env, c.script)
			if out != c.want || code != c.code {
				t.Fatalf("%s\n got (exit %d) %q\nwant (exit %d) %q", c.script, code, out, c.code, c.want)
			}
		})
	}
}

func TestFetchHTTP(t *testing.T) {
	dir, env := toolsDir(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/img_1.0.xz" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte("image"))
	}))
	defer srv.Close()
	out, code := runTool(t, env, "fetch "+srv.URL+"/img_1.0.xz --output "+dir+"/img && cat "+dir+"/img")
	if code != 0 || out != "image" {
		t.Fatalf("fetch: exit %d %q", code, out)
	}
	out, code = runTool(t, env, "fetch "+srv.URL+"/other.xz --output "+dir+"/other")
	if code != 1 || !strings.Contains(out, "Not Found") {
		t.Fatalf("fetch of a missing image: exit %d %q", code, out)
	}
	if _, err := os.Stat(dir + "/other"); err == nil {
		t.Fatal("a failed fetch left its output file")
	}
}

func TestPotnet(t *testing.T) {
	dir, env := toolsDir(t)
	// potnet reads the configuration of the pot on PATH: a fake one.
	potRoot := filepath.Join(dir, "potinst")
	for _, d := range []string{"bin", "etc/pot", "fs/jails/a/conf", "fs/bridges"} {
		if err := os.MkdirAll(filepath.Join(potRoot, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p, s string) {
		if err := os.WriteFile(filepath.Join(potRoot, p), []byte(s), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write("bin/pot", "#!/bin/sh\n")
	write("etc/pot/pot.default.conf", "POT_FS_ROOT=/opt/pot\nPOT_NETWORK=10.192.0.0/10\nPOT_GATEWAY=10.192.0.1\nPOT_DNS_IP=10.192.0.2\n")
	write("etc/pot/pot.conf", "POT_FS_ROOT="+filepath.Join(potRoot, "fs")+"\n")
	write("fs/jails/a/conf/pot.conf", "ip=10.192.0.3\nnetwork_type=public-bridge\n")
	write("fs/bridges/backend", "net=10.193.0.0/28\ngateway=10.193.0.1\nname=backend\n")
	env = append(env, "PATH="+filepath.Join(potRoot, "bin")+":"+filepath.Join(dir, "bin")+":"+os.Getenv("PATH"))
	for _, c := range []struct{ script, want string }{
		{"potnet next", "10.192.0.4\n"},
		{"potnet next -b backend", "10.193.0.2\n"},
		{"potnet validate -H 10.192.0.3; echo $?", "1\n"},
		{"potnet validate -H 10.192.0.9; echo $?", "0\n"},
		{"potnet validate -H 10.1.0.9; echo $?", "1\n"},
		{"potnet ip4check -H 10.1.0.9; echo $?; potnet ip4check -H fd00::1; echo $?", "0\n1\n"},
		{"potnet etc-hosts", "10.192.0.3 a\n"},
	} {
		if out, _ := runTool(t, env, c.script); out != c.want {
			t.Errorf("%s: got %q, want %q", c.script, out, c.want)
		}
	}
}
