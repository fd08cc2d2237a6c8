package hclspec

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/nomad/helper/pluginutils/hclspecutils"
	"github.com/hashicorp/nomad/helper/pluginutils/hclutils"
	"github.com/hashicorp/nomad/plugins/base"
	"github.com/hashicorp/nomad/plugins/drivers"
	nhcl "github.com/hashicorp/nomad/plugins/shared/hclspec"
	"github.com/zclconf/go-cty/cty/msgpack"
)

// jobspec2Config is the task config of this job, as Nomad v1.11.3's HCL2
// job parser (jobspec2.Parse) hands it to the API, captured as JSON:
//
//	config {
//	  image = "https://potluck.honeyguide.net/nginx-nomad"
//	  pot = "nginx-nomad-amd64-13_1"
//	  tag = "1.1.13"
//	  command = "nginx"
//	  args = ["-g", "daemon off;"]
//	  copy = ["/mnt/s3/web/nginx.conf:/usr/local/etc/nginx/nginx.conf"]
//	  mount = ["/mnt/s3/web/www:/mnt"]
//	  mount_read_only = ["/usr/local/etc/ssl:/etc/ssl"]
//	  extra_hosts = ["db:10.0.0.2", "db6:fd00::2"]
//	  attributes = ["devfs_ruleset:4", "mount:yes"]
//	  network_mode = "public-bridge"
//	  port_map = {
//	    http = "80"
//	    https = 443
//	  }
//	}
//
// jobspec2 turns the port_map object into a one-element list of maps.
const jobspec2Config = `{"args":["-g","daemon off;"],"attributes":["devfs_ruleset:4","mount:yes"],"command":"nginx","copy":["/mnt/s3/web/nginx.conf:/usr/local/etc/nginx/nginx.conf"],"extra_hosts":["db:10.0.0.2","db6:fd00::2"],"image":"https://potluck.honeyguide.net/nginx-nomad","mount":["/mnt/s3/web/www:/mnt"],"mount_read_only":["/usr/local/etc/ssl:/etc/ssl"],"network_mode":"public-bridge","port_map":[{"http":"80","https":443}],"pot":"nginx-nomad-amd64-13_1","tag":"1.1.13"}`

// decodeLikeNomad runs a task config the way the Nomad client does:
// hclutils.ParseHclInterface against the converted schema, then
// EncodeDriverConfig (cty msgpack) and DecodeDriverConfig in the driver.
func decodeLikeNomad(t *testing.T, spec *nhcl.Spec, config interface{}, out interface{}) error {
	t.Helper()
	dec, diags := hclspecutils.Convert(spec)
	if diags.HasErrors() {
		t.Fatalf("schema does not convert: %v", diags)
	}
	val, diags, errs := hclutils.ParseHclInterface(config, dec, nil)
	if len(errs) > 0 {
		return errs[0]
	}
	if diags.HasErrors() {
		return diags
	}
	tc := &drivers.TaskConfig{}
	if err := tc.EncodeDriverConfig(val); err != nil {
		t.Fatalf("encode: %v", err)
	}
	if err := tc.DecodeDriverConfig(out); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return nil
}

func TestDecodeHCL2Job(t *testing.T) {
	var config map[string]interface{}
	if err := json.Unmarshal([]byte(jobspec2Config), &config); err != nil {
		t.Fatal(err)
	}
	var tc TaskConfig
	if err := decodeLikeNomad(t, TaskConfigSpec, config, &tc); err != nil {
		t.Fatal(err)
	}
	want := TaskConfig{
		Image:         "https://potluck.honeyguide.net/nginx-nomad",
		Pot:           "nginx-nomad-amd64-13_1",
		Tag:           "1.1.13",
		Command:       "nginx",
		Args:          []string{"-g", "daemon off;"},
		PortMap:       MapStrStr{"http": "80", "https": "443"},
		NetworkMode:   "public-bridge",
		Mount:         []string{"/mnt/s3/web/www:/mnt"},
		MountReadOnly: []string{"/usr/local/etc/ssl:/etc/ssl"},
		Copy:          []string{"/mnt/s3/web/nginx.conf:/usr/local/etc/nginx/nginx.conf"},
		ExtraHosts:    []string{"db:10.0.0.2", "db6:fd00::2"},
		Attributes:    []string{"devfs_ruleset:4", "mount:yes"},
	}
	if !reflect.DeepEqual(tc, want) {
		t.Fatalf("decoded %#v\nwant    %#v", tc, want)
	}
	s, err := tc.Validate()
	if err != nil {
		t.Fatal(err)
	}
	assertSafe(t, s)
	// The bsdpot driver's meaning: one command line for the jail's sh.
	if s.CommandLine != "nginx -g daemon off;" || s.Argv != nil {
		t.Errorf("CommandLine = %q, Argv = %q", s.CommandLine, s.Argv)
	}
	if !reflect.DeepEqual(s.PortMap, map[string]uint16{"http": 80, "https": 443}) {
		t.Errorf("PortMap = %v", s.PortMap)
	}
}

// TestDecodeHCL1Block: the block form `port_map { … }` through Nomad's own
// test parser (HCL1, as jobs were written for the bsdpot driver's first
// releases).
func TestDecodeHCL1Block(t *testing.T) {
	var tc TaskConfig
	hclutils.NewConfigParser(TaskConfigSpec).ParseHCL(t, `
config {
  image = "file:///var/cache/pot"
  pot = "web"
  tag = "2.0"
  command = "/usr/local/bin/web"
  port_map {
    http = 8080
  }
  mount = ["/data:/data"]
}`, &tc)
	if tc.Image != "file:///var/cache/pot" || tc.Pot != "web" || tc.Tag != "2.0" ||
		!reflect.DeepEqual(tc.PortMap, MapStrStr{"http": "8080"}) || !reflect.DeepEqual(tc.Mount, []string{"/data:/data"}) {
		t.Fatalf("decoded %#v", tc)
	}
	s, err := tc.Validate()
	if err != nil {
		t.Fatal(err)
	}
	if s.NetworkMode != NetworkPublicBridge || s.PortMap["http"] != 8080 || s.CommandLine != "/usr/local/bin/web" {
		t.Fatalf("settings %#v", s)
	}
}

func TestDecodeSchemaErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		config map[string]interface{}
		want   string
	}{
		{"missing image", map[string]interface{}{"pot": "p", "tag": "t"}, `"image" is required`},
		{"missing tag", map[string]interface{}{"image": "file:///x", "pot": "p"}, `"tag" is required`},
		{"unknown key", map[string]interface{}{"image": "file:///x", "pot": "p", "tag": "t", "alloc": "x"}, `"alloc"`},
		{"args not a list", map[string]interface{}{"image": "file:///x", "pot": "p", "tag": "t", "args": map[string]interface{}{"a": "b"}}, `args`},
		// A job submitted as JSON through the API with port_map as a bare
		// object (not what the HCL parser produces) is refused by the
		// schema, as it is for Nomad's docker driver.
		{"port_map bare object", map[string]interface{}{"image": "file:///x", "pot": "p", "tag": "t", "port_map": map[string]interface{}{"http": "80"}}, `list of map of string required`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out TaskConfig
			err := decodeLikeNomad(t, TaskConfigSpec, tc.config, &out)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want error containing %q", err, tc.want)
			}
		})
	}
}

func TestMapStrStrRoundTrip(t *testing.T) {
	in := TaskConfig{Image: "file:///x", Pot: "p", Tag: "t", PortMap: MapStrStr{"a": "1", "b": "2"}}
	var b []byte
	if err := base.MsgPackEncode(&b, &in); err != nil {
		t.Fatal(err)
	}
	var out TaskConfig
	if err := base.MsgPackDecode(b, &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip %#v -> %#v", in, out)
	}
	// nil map encodes as an empty list
	b = nil
	if err := base.MsgPackEncode(&b, &TaskConfig{}); err != nil {
		t.Fatal(err)
	}
	out = TaskConfig{}
	if err := base.MsgPackDecode(b, &out); err != nil {
		t.Fatal(err)
	}
	if len(out.PortMap) != 0 {
		t.Fatalf("PortMap %v", out.PortMap)
	}
}

// decodePluginConfig runs a plugin block the way the agent does: schema,
// cty msgpack bytes in base.Config.PluginConfig, base.MsgPackDecode in
// SetConfig.
func decodePluginConfig(t *testing.T, config map[string]interface{}) (*PluginConfig, error) {
	t.Helper()
	dec, diags := hclspecutils.Convert(PluginConfigSpec)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	val, _, errs := hclutils.ParseHclInterface(config, dec, nil)
	if len(errs) > 0 {
		return nil, errs[0]
	}
	b, err := msgpack.Marshal(val, val.Type())
	if err != nil {
		t.Fatal(err)
	}
	var pc PluginConfig
	if err := base.MsgPackDecode(b, &pc); err != nil {
		t.Fatal(err)
	}
	return &pc, nil
}

func TestPluginConfig(t *testing.T) {
	pc, err := decodePluginConfig(t, map[string]interface{}{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(pc, DefaultPluginConfig()) || pc.PotBin != "/usr/local/bin/pot" {
		t.Fatalf("default config %#v", pc)
	}
	if err := pc.Validate(); err != nil {
		t.Fatal(err)
	}
	pc, err = decodePluginConfig(t, map[string]interface{}{"pot_bin": "/opt/pot/bin/pot"})
	if err != nil {
		t.Fatal(err)
	}
	if pc.PotBin != "/opt/pot/bin/pot" || pc.Validate() != nil {
		t.Fatalf("config %#v", pc)
	}
	if _, err := decodePluginConfig(t, map[string]interface{}{"enabled": true}); err == nil {
		t.Fatal("unknown key accepted")
	}
}

func TestPluginConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		bin, want string
	}{
		{"/usr/local/bin/pot", ""},
		{"", ""}, // defaulted
		{"pot", `pot_bin "pot": must be an absolute path`},
		{"./pot", `pot_bin "./pot": must be an absolute path`},
		{"/usr/local/bin/../bin/pot", `pot_bin "/usr/local/bin/../bin/pot": must be a clean path ("/usr/local/bin/pot")`},
		{"/usr/local/bin/pot\n", `pot_bin "/usr/local/bin/pot\n": value contains a line break`},
	} {
		c := &PluginConfig{PotBin: tc.bin}
		err := c.Validate()
		if tc.want == "" {
			if err != nil || c.PotBin == "" {
				t.Errorf("%q: %v", tc.bin, err)
			}
			continue
		}
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %s", tc.bin, err, tc.want)
		}
	}
	var nilc *PluginConfig
	if nilc.Validate() == nil {
		t.Error("nil config validated")
	}
}
