package hclspec

import (
	"errors"
	"github.com/bsdpot/nomad-pot-driver/pot"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func validConfig() *TaskConfig {
	return &TaskConfig{
		Image: "https://potluck.honeyguide.net/nginx-nomad",
		Pot:   "nginx-nomad-amd64-13_1",
		Tag:   "1.1.13",
	}
}

func TestValidateMinimal(t *testing.T) {
	s, err := validConfig().Validate()
	if err != nil {
		t.Fatal(err)
	}
	want := &TaskSettings{
		ImageURL:    "https://potluck.honeyguide.net/nginx-nomad",
		Image:       "nginx-nomad-amd64-13_1",
		Tag:         "1.1.13",
		NetworkMode: NetworkPublicBridge,
		Network:     NetworkSettings{IP: "auto"},
	}
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("got %#v\nwant %#v", s, want)
	}
}

func TestValidateFull(t *testing.T) {
	c := validConfig()
	c.Command = "/usr/local/sbin/nginx"
	c.Args = []string{"-g", "daemon off;", "it's", ""}
	c.ExactArgs = true
	c.PortMap = MapStrStr{"http": "80", "https": "0443"}
	c.NetworkMode = "host"
	c.Mount = []string{"/mnt/s3/web/www/:/mnt", "/var//db:/var/db/./x"}
	c.MountReadOnly = []string{"/usr/local/etc/ssl:/etc/ssl"}
	c.Copy = []string{"/mnt/s3/web/nginx.conf:/usr/local/etc/nginx/nginx.conf", "/etc/resolv.conf:/"}
	c.ExtraHosts = []string{"db.example.org:10.0.0.2", "v6:fe80::1", "mapped:::ffff:1.2.3.4"}
	c.Attributes = []string{"devfs_ruleset:004", "mount:on", "sysvshm:NEW", "exec_stop:/bin/sh /etc/rc.shutdown", "no-tmpfs:False"}
	s, err := c.Validate()
	if err != nil {
		t.Fatal(err)
	}
	want := &TaskSettings{
		ImageURL:    c.Image,
		Image:       c.Pot,
		Tag:         c.Tag,
		Argv:        []string{"/usr/local/sbin/nginx", "-g", "daemon off;", "it's", ""},
		PortMap:     map[string]uint16{"http": 80, "https": 443},
		NetworkMode: NetworkInherit,
		Mounts: []Mount{
			{HostPath: "/mnt/s3/web/www", JailPath: "/mnt", Key: "mount[0]"},
			{HostPath: "/var/db", JailPath: "/var/db/x", Key: "mount[1]"},
			{HostPath: "/usr/local/etc/ssl", JailPath: "/etc/ssl", ReadOnly: true, Key: "mount_read_only[0]"},
		},
		Copies: []Copy{
			{Src: "/mnt/s3/web/nginx.conf", Dest: "/usr/local/etc/nginx/nginx.conf", Key: "copy[0]"},
			{Src: "/etc/resolv.conf", Dest: "/", Key: "copy[1]"},
		},
		ExtraHosts: []Host{
			{Name: "db.example.org", IP: netip.MustParseAddr("10.0.0.2")},
			{Name: "v6", IP: netip.MustParseAddr("fe80::1")},
			{Name: "mapped", IP: netip.MustParseAddr("::ffff:1.2.3.4")},
		},
		Attributes: []pot.Attribute{
			{Name: "devfs_ruleset", Value: "4"}, {Name: "mount", Value: "YES"}, {Name: "sysvshm", Value: "new"},
			{Name: "exec_stop", Value: "/bin/sh /etc/rc.shutdown"}, {Name: "no-tmpfs", Value: "NO"},
		},
	}
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("got  %#v\nwant %#v", s, want)
	}
	if got := s.PortLabels(); !reflect.DeepEqual(got, []string{"http", "https"}) {
		t.Errorf("PortLabels = %v", got)
	}
	if got := s.ExtraHosts[1].HostsArg(); got != "v6:fe80::1" {
		t.Errorf("HostsArg = %q", got)
	}
}

// TestValidateRules: one bad value per case; the error must name the key
// and show the value quoted.
func TestValidateRules(t *testing.T) {
	long := strings.Repeat("a", MaxNameLen+1)
	cases := []struct {
		name    string
		mutate  func(c *TaskConfig)
		wantErr string // "" = valid
	}{
		// image
		{"image empty", func(c *TaskConfig) { c.Image = "" }, `image "": must not be empty`},
		{"image http", func(c *TaskConfig) { c.Image = "http://10.0.0.1:8080/images" }, ""},
		{"image https trailing slash", func(c *TaskConfig) { c.Image = "https://pot-registry.zapto.org/registry/" }, ""},
		{"image ipv6", func(c *TaskConfig) { c.Image = "http://[fd00::1]:80/img" }, ""},
		{"image file", func(c *TaskConfig) { c.Image = "file:///var/cache/images" }, ""},
		{"image file localhost", func(c *TaskConfig) { c.Image = "file://localhost/var/cache" }, ""},
		{"image file relative", func(c *TaskConfig) { c.Image = "file://./images" }, `image "file://./images": a file URL takes no host`},
		{"image file no path", func(c *TaskConfig) { c.Image = "file://" }, `image "file://": a file URL needs an absolute path`},
		{"image ftp", func(c *TaskConfig) { c.Image = "ftp://host/x" }, `image "ftp://host/x": scheme must be http, https or file`},
		{"image no scheme", func(c *TaskConfig) { c.Image = "potluck.honeyguide.net/x" }, `scheme must be`},
		{"image no host", func(c *TaskConfig) { c.Image = "https:///x" }, `image "https:///x": an http(s) URL needs a host`},
		{"image query", func(c *TaskConfig) { c.Image = "https://h/x?a=b" }, `image "https://h/x?a=b": character '?'`},
		{"image space", func(c *TaskConfig) { c.Image = "https://h/a b" }, `image "https://h/a b": character ' '`},
		{"image semicolon", func(c *TaskConfig) { c.Image = "https://h/a;reboot" }, `character ';'`},
		{"image dollar", func(c *TaskConfig) { c.Image = "https://h/$(id)" }, `character '$'`},
		{"image newline", func(c *TaskConfig) { c.Image = "https://h/a\nb" }, `image "https://h/a\nb": value contains a line break`},
		{"image bad port", func(c *TaskConfig) { c.Image = "https://h:99999/x" }, `image "https://h:99999/x"`},
		{"image unicode", func(c *TaskConfig) { c.Image = "https://hé/x" }, `image "https://hé/x": character 'é'`},
		// signature_pubkey (whether it may be used: CheckHostPath)
		{"key", func(c *TaskConfig) { c.SignaturePubkey = "/usr/local/etc/pot/sign_key.pub" }, ""},
		{"key relative", func(c *TaskConfig) { c.SignaturePubkey = "sign_key.pub" }, `signature_pubkey "sign_key.pub": must be an absolute path`},
		{"key dotdot", func(c *TaskConfig) { c.SignaturePubkey = "/a/../b.pub" }, `signature_pubkey "/a/../b.pub": must be a clean path`},
		{"key newline", func(c *TaskConfig) { c.SignaturePubkey = "/a\n.pub" }, `signature_pubkey "/a\n.pub": value contains a line break`},
		// pot, tag
		{"pot empty", func(c *TaskConfig) { c.Pot = "" }, `pot "": must not be empty`},
		{"tag empty", func(c *TaskConfig) { c.Tag = "" }, `tag "": must not be empty`},
		{"pot slash", func(c *TaskConfig) { c.Pot = "a/b" }, `pot "a/b": only letters`},
		{"pot space", func(c *TaskConfig) { c.Pot = "a b" }, `pot "a b": only letters`},
		{"pot leading dash", func(c *TaskConfig) { c.Pot = "-rf" }, `pot "-rf": only letters`},
		{"pot leading dot", func(c *TaskConfig) { c.Pot = ".x" }, `pot ".x"`},
		{"pot shell", func(c *TaskConfig) { c.Pot = "a;b" }, `pot "a;b"`},
		{"pot newline", func(c *TaskConfig) { c.Pot = "a\nb" }, `pot "a\nb"`},
		{"pot unicode", func(c *TaskConfig) { c.Pot = "pöt" }, `pot "pöt": only letters, digits, '_', '-' and '.' are allowed, starting with a letter or digit (found 'ö' at byte 1)`},
		{"pot too long", func(c *TaskConfig) { c.Pot = long }, `pot "aaaa`},
		{"tag dots ok", func(c *TaskConfig) { c.Tag = "14.2_1-rc.3" }, ""},
		{"tag quote", func(c *TaskConfig) { c.Tag = "1'2" }, `tag "1'2"`},
		// command, args
		{"command path", func(c *TaskConfig) { c.Command = "/usr/local/bin/app" }, ""},
		{"command name", func(c *TaskConfig) { c.Command = "nginx" }, ""},
		// bsdpot's meaning: command and args are the jail's command line.
		{"command line", func(c *TaskConfig) { c.Command = "nginx -g 'daemon off;'" }, ""},
		{"command tab", func(c *TaskConfig) { c.Command = "a\tb" }, ""},
		{"command blank", func(c *TaskConfig) { c.Command = "  " }, `command "  ": only whitespace`},
		{"command line dash", func(c *TaskConfig) { c.Command = " -x y" }, `command " -x y": may not start with '-'`},
		{"exact command with spaces", func(c *TaskConfig) { c.ExactArgs = true; c.Command = "nginx -g 'daemon off;'" }, `command "nginx -g 'daemon off;'": contains whitespace`},
		{"exact command tab", func(c *TaskConfig) { c.ExactArgs = true; c.Command = "a\tb" }, `command "a\tb": contains whitespace`},
		{"exact without command", func(c *TaskConfig) { c.ExactArgs = true }, `exact_args "true": needs a command`},
		{"exact args newline", func(c *TaskConfig) { c.ExactArgs = true; c.Command = "sh"; c.Args = []string{"a\nb"} }, `args[0] "a\nb": value contains a line break`},
		{"exact dash", func(c *TaskConfig) { c.ExactArgs = true; c.Command = "-l" }, `command "-l": may not start with '-'`},
		{"command newline", func(c *TaskConfig) { c.Command = "a\nb" }, `command "a\nb": value contains a line break`},
		{"command dash", func(c *TaskConfig) { c.Command = "-l" }, `command "-l": may not start with '-'`},
		{"command NUL", func(c *TaskConfig) { c.Command = "a\x00" }, `command "a\x00": value contains a NUL byte`},
		{"args without command", func(c *TaskConfig) { c.Args = []string{"x"} }, `command "": required when args are given`},
		{"args newline", func(c *TaskConfig) { c.Command = "sh"; c.Args = []string{"-c", "a\nb"} }, `args[1] "a\nb": value contains a line break`},
		{"args CR", func(c *TaskConfig) { c.Command = "sh"; c.Args = []string{"a\rb"} }, `args[0] "a\rb"`},
		{"args shell chars ok", func(c *TaskConfig) { c.Command = "sh"; c.Args = []string{"-c", "echo $HOME `id` \"x\" 'y' | cat; \t"} }, ""},
		{"args unicode ok", func(c *TaskConfig) { c.Command = "echo"; c.Args = []string{"héllo ✓"} }, ""},
		{"args too long", func(c *TaskConfig) { c.Command = "echo"; c.Args = []string{strings.Repeat("x", MaxCommandLine)} }, `command and args: the command line of`},
		// port_map
		{"port ok", func(c *TaskConfig) { c.PortMap = MapStrStr{"http": "65535"} }, ""},
		{"port zero", func(c *TaskConfig) { c.PortMap = MapStrStr{"http": "0"} }, `port_map["http"] "0": want a port number 1..65535`},
		{"port big", func(c *TaskConfig) { c.PortMap = MapStrStr{"http": "65536"} }, `port_map["http"] "65536"`},
		{"port negative", func(c *TaskConfig) { c.PortMap = MapStrStr{"http": "-1"} }, `port_map["http"] "-1"`},
		{"port proto", func(c *TaskConfig) { c.PortMap = MapStrStr{"dns": "udp:53"} }, `port_map["dns"] "udp:53"`},
		{"port empty", func(c *TaskConfig) { c.PortMap = MapStrStr{"http": ""} }, `port_map["http"] ""`},
		{"port label empty", func(c *TaskConfig) { c.PortMap = MapStrStr{"": "80"} }, `port_map[""] "80": empty port label`},
		{"port label space", func(c *TaskConfig) { c.PortMap = MapStrStr{"a b": "80"} }, `port_map["a b"] "80"`},
		{"port label newline", func(c *TaskConfig) { c.PortMap = MapStrStr{"a\nb": "80"} }, `port_map["a\nb"] "80"`},
		// network_mode
		{"net inherit", func(c *TaskConfig) { c.NetworkMode = "inherit" }, ""},
		{"net alias", func(c *TaskConfig) { c.NetworkMode = "alias"; c.IP = "192.0.2.7" }, ""},
		{"net alias without ip", func(c *TaskConfig) { c.NetworkMode = "alias" }, `ip "": network_mode alias needs`},
		{"net alias bad ip", func(c *TaskConfig) { c.NetworkMode = "alias"; c.IP = "192.0.2.300" }, `ip "192.0.2.300"`},
		{"net inherit with ip", func(c *TaskConfig) { c.NetworkMode = "inherit"; c.IP = "192.0.2.7" }, `ip "192.0.2.7": network_mode inherit`},
		{"net bridge fixed ip", func(c *TaskConfig) { c.IP = "10.192.0.9" }, ""},
		{"net private", func(c *TaskConfig) { c.NetworkMode = "private-bridge"; c.Bridge = "backend" }, ""},
		{"net private without bridge", func(c *TaskConfig) { c.NetworkMode = "private-bridge" }, `bridge "": network_mode private-bridge needs`},
		{"net bridge on public", func(c *TaskConfig) { c.Bridge = "backend" }, `bridge "backend": only for`},
		{"net bad bridge", func(c *TaskConfig) { c.NetworkMode = "private-bridge"; c.Bridge = "a;b" }, `bridge "a;b"`},
		{"net stack", func(c *TaskConfig) { c.NetworkStack = "dual" }, ""},
		{"net bad stack", func(c *TaskConfig) { c.NetworkStack = "ipv5" }, `network_stack "ipv5"`},
		{"net dns custom", func(c *TaskConfig) { c.DNS = pot.CustomDNS("/etc/resolv.jail.conf").String() }, ""},
		{"net dns relative", func(c *TaskConfig) { c.DNS = pot.CustomDNS("resolv.conf").String() }, `dns "` + pot.CustomDNS("resolv.conf").String() + `"`},
		{"net dns bad", func(c *TaskConfig) { c.DNS = "google" }, `dns "google"`},
		{"net public", func(c *TaskConfig) { c.NetworkMode = "public-bridge" }, ""},
		{"net bad", func(c *TaskConfig) { c.NetworkMode = "bridge" }, `network_mode "bridge": want one of`},
		{"net case", func(c *TaskConfig) { c.NetworkMode = "Host" }, `network_mode "Host"`},
		// mount
		{"mount one part", func(c *TaskConfig) { c.Mount = []string{"/a"} }, `mount[0] "/a": want HOSTPATH:JAILPATH: exactly one ':' expected`},
		{"mount colon", func(c *TaskConfig) { c.Mount = []string{":"} }, `mount[0] ":": host empty path`},
		{"mount three", func(c *TaskConfig) { c.Mount = []string{"/a", "/a:/b:/c"} }, `mount[1] "/a:/b:/c": want HOSTPATH:JAILPATH`},
		{"mount relative host", func(c *TaskConfig) { c.Mount = []string{"a:/b"} }, `mount[0] "a:/b": host path "a" is not absolute`},
		{"mount relative jail", func(c *TaskConfig) { c.Mount = []string{"/a:b"} }, `mount[0] "/a:b": jail path "b" is not absolute`},
		{"mount dotdot host", func(c *TaskConfig) { c.Mount = []string{"/a/../etc:/b"} }, `host path "/a/../etc" contains '..'`},
		{"mount dotdot jail", func(c *TaskConfig) { c.Mount = []string{"/a:/b/.."} }, `jail path "/b/.." contains '..'`},
		{"mount root jail", func(c *TaskConfig) { c.Mount = []string{"/a:/"} }, `mount[0] "/a:/": cannot mount over the jail's root`},
		{"mount root jail unclean", func(c *TaskConfig) { c.Mount = []string{"/a://."} }, `cannot mount over the jail's root`},
		{"mount space", func(c *TaskConfig) { c.Mount = []string{"/a b:/c"} }, `mount[0] "/a b:/c": paths may not contain whitespace`},
		{"mount newline", func(c *TaskConfig) { c.Mount = []string{"/a\n:/c"} }, `mount[0] "/a\n:/c"`},
		{"mount control", func(c *TaskConfig) { c.Mount = []string{"/a\x1b:/c"} }, `control character`},
		{"mount invalid utf8", func(c *TaskConfig) { c.Mount = []string{"/a\xff:/c"} }, `mount[0] "/a\xff:/c": host invalid UTF-8`},
		{"mount unicode ok", func(c *TaskConfig) { c.Mount = []string{"/données:/d"} }, ""},
		{"mount ro", func(c *TaskConfig) { c.MountReadOnly = []string{"x"} }, `mount_read_only[0] "x"`},
		{"mount dup", func(c *TaskConfig) {
			c.Mount = []string{"/tmp/test2:/root/test2"}
			c.MountReadOnly = []string{"/tmp/test2:/root/test2/"}
		}, `mount_read_only[0] "/tmp/test2:/root/test2/": jail path /root/test2 is already mounted by mount[0]`},
		// copy
		{"copy ok", func(c *TaskConfig) { c.Copy = []string{"/tmp/a b.txt:/root/a b.txt"} }, ""},
		{"copy one", func(c *TaskConfig) { c.Copy = []string{"a"} }, `copy[0] "a": want HOSTSRC:JAILDEST`},
		{"copy three", func(c *TaskConfig) { c.Copy = []string{"/a:/b:c"} }, `copy[0] "/a:/b:c"`},
		{"copy relative", func(c *TaskConfig) { c.Copy = []string{"a:/b"} }, `copy[0] "a:/b": host path "a" is not absolute`},
		{"copy empty dest", func(c *TaskConfig) { c.Copy = []string{"/a:"} }, `copy[0] "/a:": jail empty path`},
		{"copy dotdot", func(c *TaskConfig) { c.Copy = []string{"/a:/../etc/passwd"} }, `contains '..'`},
		// extra_hosts
		{"host no colon", func(c *TaskConfig) { c.ExtraHosts = []string{"a"} }, `extra_hosts[0] "a": want HOSTNAME:IP`},
		{"host colon only", func(c *TaskConfig) { c.ExtraHosts = []string{":"} }, `extra_hosts[0] ":": hostname: empty`},
		{"host bad ip", func(c *TaskConfig) { c.ExtraHosts = []string{"a:b:c"} }, `extra_hosts[0] "a:b:c": IP:`},
		{"host ip with port", func(c *TaskConfig) { c.ExtraHosts = []string{"a:1.2.3.4:80"} }, `extra_hosts[0] "a:1.2.3.4:80"`},
		{"host zone", func(c *TaskConfig) { c.ExtraHosts = []string{"a:fe80::1%em0"} }, `a zone is not allowed`},
		{"host bad name", func(c *TaskConfig) { c.ExtraHosts = []string{"a b:1.2.3.4"} }, `extra_hosts[0] "a b:1.2.3.4": hostname: character ' '`},
		{"host empty label", func(c *TaskConfig) { c.ExtraHosts = []string{"a..b:1.2.3.4"} }, `empty label`},
		{"host dash", func(c *TaskConfig) { c.ExtraHosts = []string{"-a:1.2.3.4"} }, `may not start or end with '-'`},
		{"host unicode", func(c *TaskConfig) { c.ExtraHosts = []string{"hé:1.2.3.4"} }, `extra_hosts[0] "hé:1.2.3.4": hostname: character 'é' is not allowed`},
		{"host newline", func(c *TaskConfig) { c.ExtraHosts = []string{"a:1.2.3.4\n"} }, `extra_hosts[0] "a:1.2.3.4\n"`},
		{"host long", func(c *TaskConfig) { c.ExtraHosts = []string{strings.Repeat("a.", 200) + "a:1.2.3.4"} }, `longer than 253`},
		// attributes
		{"attr unknown", func(c *TaskConfig) { c.Attributes = []string{"foo:1"} }, `attributes[0] "foo:1": unknown attribute "foo"`},
		{"attr no colon", func(c *TaskConfig) { c.Attributes = []string{"mount"} }, `attributes[0] "mount": want NAME:VALUE`},
		{"attr empty", func(c *TaskConfig) { c.Attributes = []string{""} }, `attributes[0] ""`},
		{"attr colon", func(c *TaskConfig) { c.Attributes = []string{":"} }, `attributes[0] ":": unknown attribute ""`},
		{"attr no value", func(c *TaskConfig) { c.Attributes = []string{"mount:"} }, `attributes[0] "mount:": attribute mount needs a value`},
		{"attr bad bool", func(c *TaskConfig) { c.Attributes = []string{"mount:1"} }, `attributes[0] "mount:1": attribute mount wants a boolean`},
		{"attr bad uint", func(c *TaskConfig) { c.Attributes = []string{"devfs_ruleset:-1"} }, `attributes[0] "devfs_ruleset:-1": attribute devfs_ruleset wants a number`},
		{"attr uint spaces", func(c *TaskConfig) { c.Attributes = []string{"stop_timeout: 10"} }, `attribute stop_timeout wants a number`},
		{"attr uint huge", func(c *TaskConfig) { c.Attributes = []string{"children:99999999999"} }, `attribute children wants a number`},
		{"attr statfs", func(c *TaskConfig) { c.Attributes = []string{"enforce_statfs:3"} }, `attributes[0] "enforce_statfs:3": attribute enforce_statfs wants a number 0..2`},
		{"attr statfs ok", func(c *TaskConfig) { c.Attributes = []string{"enforce_statfs:1"} }, ""},
		{"attr sysv", func(c *TaskConfig) { c.Attributes = []string{"sysvmsg:yes"} }, `attribute sysvmsg wants new, inherit or disable`},
		{"attr exec_stop eq", func(c *TaskConfig) { c.Attributes = []string{"exec_stop:A=1 /bin/x"} }, `may not contain '='`},
		{"attr exec_stop newline", func(c *TaskConfig) { c.Attributes = []string{"exec_stop:/bin/x\npot.cmd=evil"} }, `attributes[0] "exec_stop:/bin/x\npot.cmd=evil"`},
		{"attr exec_stop colon ok", func(c *TaskConfig) { c.Attributes = []string{"exec_stop:/bin/echo a:b"} }, ""},
		{"attr persistent", func(c *TaskConfig) { c.Attributes = []string{"persistent:YES"} }, `attribute persistent is set by the driver`},
		{"attr no-rc-script", func(c *TaskConfig) { c.Attributes = []string{"no-rc-script:NO"} }, `attribute no-rc-script is set by the driver`},
		{"attr start-at-boot", func(c *TaskConfig) { c.Attributes = []string{"start-at-boot:YES"} }, `set by the driver`},
		{"attr dup", func(c *TaskConfig) { c.Attributes = []string{"mount:YES", "mount:NO"} }, `attributes[1] "mount:NO": attribute mount set twice (also in attributes[0])`},
		{"attr case", func(c *TaskConfig) { c.Attributes = []string{"MOUNT:YES"} }, `unknown attribute "MOUNT"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.mutate(c)
			s, err := c.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				assertSafe(t, s)
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q; settings %#v", tc.wantErr, s)
			}
			if s != nil {
				t.Errorf("settings returned with an error")
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %q\ndoes not contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestValidateReportsAllProblems(t *testing.T) {
	c := &TaskConfig{Mount: []string{"a"}, Attributes: []string{"x:y"}}
	_, err := c.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{`image ""`, `pot ""`, `tag ""`, `mount[0] "a"`, `attributes[0] "x:y"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Key != "image" {
		t.Errorf("errors.As FieldError: %v", fe)
	}

	// many problems: capped
	c = validConfig()
	for i := 0; i < 100; i++ {
		c.Mount = append(c.Mount, "x")
	}
	_, err = c.Validate()
	if err == nil || !strings.Contains(err.Error(), "and 80 more problems") {
		t.Fatalf("want capped error list, got %v", err)
	}
	if strings.Contains(err.Error(), "mount[20]") {
		t.Errorf("more than %d problems listed", maxErrors)
	}
}

func TestValidateHugeValueMessageIsShort(t *testing.T) {
	c := validConfig()
	c.Pot = strings.Repeat("ä", 1<<20)
	_, err := c.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	if len(err.Error()) > 1000 {
		t.Fatalf("error message of %d bytes", len(err.Error()))
	}
	if !strings.Contains(err.Error(), "(2097152 bytes)") {
		t.Errorf("error %q does not give the length", err)
	}
}

func TestValidateNil(t *testing.T) {
	var c *TaskConfig
	if _, err := c.Validate(); err == nil {
		t.Fatal("nil config validated")
	}
}

func TestSplit(t *testing.T) {
	for _, tc := range []struct {
		in          string
		exact, frst [2]string
		exactOK     bool
		firstOK     bool
	}{
		{"a:b", [2]string{"a", "b"}, [2]string{"a", "b"}, true, true},
		{":", [2]string{"", ""}, [2]string{"", ""}, true, true},
		{"a", [2]string{}, [2]string{}, false, false},
		{"", [2]string{}, [2]string{}, false, false},
		{"a:b:c", [2]string{}, [2]string{"a", "b:c"}, false, true},
		{"h:fe80::1", [2]string{}, [2]string{"h", "fe80::1"}, false, true},
	} {
		a, b, err := splitExact(tc.in)
		if (err == nil) != tc.exactOK || (err == nil && [2]string{a, b} != tc.exact) {
			t.Errorf("splitExact(%q) = %q, %q, %v", tc.in, a, b, err)
		}
		a, b, err = splitFirst(tc.in)
		if (err == nil) != tc.firstOK || (err == nil && [2]string{a, b} != tc.frst) {
			t.Errorf("splitFirst(%q) = %q, %q, %v", tc.in, a, b, err)
		}
	}
}

// assertSafe checks the invariants of validated settings.
func assertSafe(t testing.TB, s *TaskSettings) {
	t.Helper()
	if s == nil {
		t.Fatal("nil settings without error")
	}
	forEachString(reflect.ValueOf(s).Elem(), func(where, v string) {
		if strings.ContainsAny(v, "\n\r\x00") {
			t.Fatalf("%s = %q contains a line break or NUL", where, v)
		}
	})
	for _, m := range s.Mounts {
		for _, p := range []string{m.HostPath, m.JailPath} {
			if !strings.HasPrefix(p, "/") || strings.Contains(p, "//") || (p != "/" && strings.HasSuffix(p, "/")) ||
				strings.Contains(p, "/../") || strings.HasSuffix(p, "/..") || strings.ContainsAny(p, " \t:") {
				t.Fatalf("mount path %q not absolute/clean", p)
			}
		}
		if m.JailPath == "/" {
			t.Fatalf("mount over jail root")
		}
	}
	for _, c := range s.Copies {
		for _, p := range []string{c.Src, c.Dest} {
			if !strings.HasPrefix(p, "/") || strings.Contains(p, "//") || strings.Contains(p, "/../") || strings.HasSuffix(p, "/..") || strings.Contains(p, ":") {
				t.Fatalf("copy path %q not absolute/clean", p)
			}
		}
	}
	for _, h := range s.ExtraHosts {
		if !h.IP.IsValid() || h.IP.Zone() != "" || strings.ContainsAny(h.Name, ": \t") || h.Name == "" {
			t.Fatalf("bad host %#v", h)
		}
	}
	for l, p := range s.PortMap {
		if l == "" || p == 0 {
			t.Fatalf("bad port %q=%d", l, p)
		}
	}
	if len(s.Argv) > 0 {
		if _, err := pot.CommandLine(s.Argv); err != nil {
			t.Fatalf("validated Argv %q cannot be quoted: %v", s.Argv, err)
		}
	}
	if s.NetworkMode == "" {
		t.Fatal("empty network mode")
	}
	if s.ImageURL == "" || s.Image == "" || s.Tag == "" {
		t.Fatal("required value empty")
	}
	for _, n := range []string{s.Image, s.Tag} {
		if strings.ContainsAny(n, "/ \t$;'\"`") {
			t.Fatalf("name %q has a forbidden character", n)
		}
	}
}

func forEachString(v reflect.Value, f func(where, s string)) {
	switch v.Kind() {
	case reflect.String:
		f(v.Type().String(), v.String())
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(netip.Addr{}) {
			f("netip.Addr", v.Interface().(netip.Addr).String())
			return
		}
		for i := 0; i < v.NumField(); i++ {
			forEachString(v.Field(i), f)
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			forEachString(v.Index(i), f)
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			forEachString(it.Key(), f)
			forEachString(it.Value(), f)
		}
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			forEachString(v.Elem(), f)
		}
	}
}
