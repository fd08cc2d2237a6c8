package hostvolume

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bsdpot/nomad-pot-driver/pot"
)

const testID = "3f6a1c2e-8b1d-4c1f-9f55-0d1e2a3b4c5d"

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func createEnv(kv ...string) map[string]string {
	m := map[string]string{
		EnvOperation: OpCreate, EnvNamespace: "default", EnvVolumeName: "data", EnvVolumeID: testID,
		EnvCapacityMin: "0", EnvCapacityMax: "67108864", EnvParameters: "{}",
		EnvVolumesDir: "/var/nomad/host_volumes", EnvPluginDir: "/var/nomad/host_volume_plugins", EnvNodeID: "n1",
	}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// ParseRequest takes what Nomad 1.11 sends and names the variable or
// parameter of every value it refuses.
func TestParseRequest(t *testing.T) {
	r, err := ParseRequest([]string{OpCreate}, envOf(createEnv(EnvParameters, `{"compression":"zstd-3","recordsize":"16K","reserve":"true","snapshots":"3"}`, EnvCapacityMin, "1048576")))
	if err != nil {
		t.Fatal(err)
	}
	want := Request{Operation: OpCreate, Namespace: "default", Name: "data", ID: testID, CapacityMin: 1 << 20, CapacityMax: 64 << 20,
		Params: Params{Compression: "zstd-3", RecordSize: 16 << 10, Reserve: true, Snapshots: 3}}
	if *r != want {
		t.Fatalf("got %+v\nwant %+v", *r, want)
	}
	if r.Fscomp() != "default_data" {
		t.Fatalf("fscomp %q", r.Fscomp())
	}
	if r, err := ParseRequest([]string{OpFingerprint}, envOf(map[string]string{EnvOperation: OpFingerprint})); err != nil || r.Operation != OpFingerprint {
		t.Fatalf("fingerprint: %+v %v", r, err)
	}
	if r, err := ParseRequest([]string{OpDelete}, envOf(createEnv(EnvOperation, OpDelete, EnvCreatedPath, "/opt/pot/fscomp/default_data"))); err != nil || r.CreatedPath != "/opt/pot/fscomp/default_data" {
		t.Fatalf("delete: %+v %v", r, err)
	}
	if r, err := ParseRequest(nil, envOf(createEnv(EnvParameters, ""))); err != nil || r.Params.Snapshots != DefaultSnapshots {
		t.Fatalf("no parameters: %+v %v", r, err)
	}

	for _, c := range []struct {
		args []string
		env  map[string]string
		says []string
	}{
		{[]string{"resize"}, map[string]string{EnvOperation: "resize"}, []string{EnvOperation, "resize"}},
		{[]string{OpDelete}, createEnv(), []string{"differ"}},
		{nil, map[string]string{}, []string{EnvOperation}},
		{nil, createEnv(EnvVolumeName, ""), []string{EnvVolumeName, "missing"}},
		{nil, createEnv(EnvVolumeName, "a/b"), []string{EnvVolumeName, `"a/b"`}},
		{nil, createEnv(EnvVolumeName, "a b"), []string{EnvVolumeName}},
		{nil, createEnv(EnvVolumeName, "-x"), []string{EnvVolumeName}},
		{nil, createEnv(EnvVolumeName, strings.Repeat("n", 101)), []string{EnvVolumeName, "longer"}},
		{nil, createEnv(EnvNamespace, "a@b"), []string{EnvNamespace}},
		{nil, createEnv(EnvVolumeID, "x"), []string{EnvVolumeID, "UUID"}},
		{nil, createEnv(EnvCapacityMax, "-1"), []string{EnvCapacityMax}},
		{nil, createEnv(EnvCapacityMax, "1G"), []string{EnvCapacityMax}},
		{nil, createEnv(EnvCapacityMin, "100", EnvCapacityMax, "10"), []string{EnvCapacityMin, "more than"}},
		{nil, createEnv(EnvParameters, `{"reserve":"true"}`), []string{"reserve", "capacity_min"}},
		{nil, createEnv(EnvParameters, `[1]`), []string{EnvParameters, "JSON object"}},
		{nil, createEnv(EnvParameters, `{"quota":"1"}`), []string{"parameter quota", "unknown"}},
		{nil, createEnv(EnvParameters, `{"compression":"brotli"}`), []string{"compression", "brotli"}},
		{nil, createEnv(EnvParameters, `{"recordsize":"3K"}`), []string{"recordsize", "power of two"}},
		{nil, createEnv(EnvParameters, `{"recordsize":"2M"}`), []string{"recordsize"}},
		{nil, createEnv(EnvParameters, `{"recordsize":"256"}`), []string{"recordsize"}},
		{nil, createEnv(EnvParameters, `{"snapshots":"-1"}`), []string{"snapshots"}},
		{nil, createEnv(EnvParameters, `{"snapshots":"1001"}`), []string{"snapshots"}},
		{nil, createEnv(EnvParameters, `{"reserve":"maybe"}`), []string{"reserve", "true or false"}},
		// every problem at once
		{nil, createEnv(EnvVolumeName, "", EnvVolumeID, "", EnvParameters, `{"x":"1"}`), []string{EnvVolumeName, EnvVolumeID, "parameter x"}},
	} {
		_, err := ParseRequest(c.args, envOf(c.env))
		if err == nil {
			t.Errorf("%v %v: accepted", c.args, c.env)
			continue
		}
		for _, s := range c.says {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%v: error %q does not say %q", c.env, err, s)
			}
		}
	}
}

// FuzzParseParams: DHV_PARAMETERS never panics the plugin, and what it
// accepts is what zfs takes.
func FuzzParseParams(f *testing.F) {
	for _, s := range []string{"", "{}", "null", `{"compression":"lz4"}`, `{"recordsize":"128K","snapshots":"0"}`, `{"reserve":"1"}`, `[`, `{"a":1}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseParams(s)
		if err != nil {
			return
		}
		if p.Compression != "" && !compressions[p.Compression] {
			t.Fatalf("%q: compression %q", s, p.Compression)
		}
		if p.RecordSize != 0 && (p.RecordSize < 512 || p.RecordSize > 1<<20 || p.RecordSize&(p.RecordSize-1) != 0) {
			t.Fatalf("%q: recordsize %d", s, p.RecordSize)
		}
		if p.Snapshots < 0 || p.Snapshots > MaxSnapshots {
			t.Fatalf("%q: snapshots %d", s, p.Snapshots)
		}
	})
}

// A pool without the space asked for: zfs refuses the create, which makes
// nothing; the plugin answers zfs's message (exit 1) and makes nothing
// else. (The emulation's zfs does not count space: stand-ins here.)
func TestCreateFullPool(t *testing.T) {
	dir := t.TempDir()
	created := filepath.Join(dir, "created")
	for name, body := range map[string]string{
		"pot": "#!/bin/sh\necho zroot/pot\n",
		"zfs": `#!/bin/sh
case "$1" in
get) echo "cannot open '$5': dataset does not exist" >&2; exit 1 ;;
create) echo "cannot create 'zroot/pot/fscomp/default_data': out of space" >&2; exit 1 ;;
*) echo "$*" >> ` + created + `; exit 0 ;;
esac
`,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	p := &Plugin{Pot: pot.New(filepath.Join(dir, "pot"), nil)}
	var out, errOut bytes.Buffer
	code := p.Run(context.Background(), []string{OpCreate}, envOf(createEnv(EnvCapacityMin, "1099511627776000", EnvCapacityMax, "1099511627776000", EnvParameters, `{"reserve":"true"}`)), &out, &errOut)
	var e ErrorResponse
	if code != 1 || json.Unmarshal(out.Bytes(), &e) != nil || !strings.Contains(e.Error, "out of space") {
		t.Fatalf("create on a full pool: exit %d, %s", code, out.String())
	}
	if data, err := os.ReadFile(created); err == nil {
		t.Fatalf("more zfs calls after the refused create: %s", data)
	}
}
