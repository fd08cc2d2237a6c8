package pot

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Create makes the pot a spec describes: prepare, mounts, copies,
// environment, hosts and attributes, and the task sees every one of them.
// Its mounts are recorded in fscomp.conf exactly as `pot mount-in` records
// the same mounts one at a time (compared with a pot made that way), a
// mount point missing in the image made, one under another mount made in
// that mount's host folder.
func TestContractCreate(t *testing.T) {
	t.Parallel()
	e := newPotEnv(t)
	data, ro, inner := t.TempDir(), t.TempDir(), t.TempDir()
	for dir, content := range map[string]string{data: "data\n", ro: "read only\n", inner: "inner\n"} {
		if err := os.WriteFile(filepath.Join(dir, "file"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "ct.conf"), []byte("key=value\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mounts := []MountOptions{
		{HostDir: data, JailPath: "/mnt/data"},
		{HostDir: ro, JailPath: "/srv/ro", ReadOnly: true},
		{HostDir: inner + "/", JailPath: "/mnt/data/inner/"},
	}
	script := `cat mnt/data/file srv/ro/file mnt/data/inner/file etc/ct/ct.conf > create.out; ` +
		`printf '%s\n' "$CT_A" "$CT_B" >> create.out; echo ready > ready; exec sleep 600`
	s := Spec{
		PrepareOptions: PrepareOptions{URL: e.url, Image: e.image, Tag: e.tag, Name: uniqueName(), Alloc: "a1", Argv: sh(script)},
		Mounts:         mounts,
		Copies:         []CopyOptions{{Source: filepath.Join(src, "ct.conf"), Destination: "/etc/ct/ct.conf", CreateParents: true}},
		Env:            []EnvVar{{Name: "CT_A", Value: "a $b"}, {Name: "CT_B", Value: `"q"`}},
		Hosts:          []Host{{Name: "db.internal", IP: "10.1.2.3"}},
		Attributes:     []Attribute{{Name: "stop_timeout", Value: "7"}},
	}
	e.destroyAtEnd(s.PotName())
	created, err := e.c.Create(e.ctx(), s)
	if err != nil {
		t.Fatal(err)
	}
	name := created.Name
	if name != s.PotName() || created.IPs != nil {
		t.Fatalf("Create returned %+v, want pot %s and no address (network inherit)", created, s.PotName())
	}
	if st, err := os.Stat(filepath.Join(data, "inner")); err != nil || !st.IsDir() {
		t.Fatalf("the mount point under /mnt/data was not made in its host folder: %v", err)
	}
	if v, err := confVar(potConfFile(e.fsRoot(), name), "pot.attr.stop_timeout"); err != nil || v != "7" {
		t.Fatalf("pot.attr.stop_timeout = %q, %v", v, err)
	}

	// The same mounts by pot mount-in, one at a time.
	byPot := e.prepare(PrepareOptions{Argv: sh("exit 0")})
	for _, m := range mounts {
		if err := e.c.MountIn(e.ctx(), byPot, m); err != nil {
			t.Fatalf("pot mount-in %+v: %v", m, err)
		}
	}
	want, err := os.ReadFile(fscompFile(e.fsRoot(), byPot))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(fscompFile(e.fsRoot(), name))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("fscomp.conf of Create:\n%s\npot mount-in's:\n%s", got, want)
	}

	r := e.start(name)
	r.waitJailFile("ready")
	wantOut := "data\nread only\ninner\nkey=value\na $b\n\"q\"\n"
	if out := e.readJail(name, "create.out"); out != wantOut {
		t.Fatalf("the task saw %q, want %q\n%s", out, wantOut, r.output())
	}
	if hosts := hostLines(e.readJail(name, "etc/hosts")); !slices.Contains(hosts, "10.1.2.3 db.internal") {
		t.Fatalf("/etc/hosts of the jail: %q", hosts)
	}
	if err := os.WriteFile(e.jailPath(name, "srv/ro/new"), nil, 0o644); err == nil {
		t.Fatal("the read-only mount took a write")
	}
	if err := e.c.Stop(e.ctx(), name); err != nil {
		t.Fatal(err)
	}
	r.waitCode(143)
}

// A Create that fails after prepare removes its pot and says at which
// step; one refused by Validate calls no pot; a pot already there is left
// alone (ErrExists).
func TestContractCreateUndo(t *testing.T) {
	t.Parallel()
	e := newPotEnv(t)
	base := PrepareOptions{URL: e.url, Image: e.image, Tag: e.tag, Alloc: "a1", Argv: sh("exit 0")}
	data := t.TempDir()

	for _, tc := range []struct {
		what string
		spec func(*Spec)
		step string
	}{
		{"missing host folder", func(s *Spec) { s.Mounts = []MountOptions{{HostDir: filepath.Join(data, "missing"), JailPath: "/mnt"}} }, StepMount},
		{"folder mounted twice", func(s *Spec) {
			s.Mounts = []MountOptions{{HostDir: data, JailPath: "/mnt/a"}, {HostDir: data, JailPath: "/mnt/b"}}
		}, StepMount},
		{"missing copy source", func(s *Spec) {
			s.Copies = []CopyOptions{{Source: filepath.Join(data, "missing"), Destination: "/etc/x"}}
		}, StepCopy},
	} {
		s := Spec{PrepareOptions: base}
		s.PrepareOptions.Name = uniqueName()
		tc.spec(&s)
		e.destroyAtEnd(s.PotName())
		_, err := e.c.Create(e.ctx(), s)
		var ce *CreateError
		if !errors.As(err, &ce) || ce.Step != tc.step || ce.Cleanup != nil || !ce.Prepared() {
			t.Fatalf("%s: Create = %v (%#v), want a CreateError at %s, cleaned up", tc.what, err, ce, tc.step)
		}
		if there, err := e.c.Exists(e.ctx(), s.PotName()); err != nil || there {
			t.Fatalf("%s: the pot is still there (%v)", tc.what, err)
		}
	}

	calls := e.potsimCalls("prepare")
	for _, bad := range []func(*Spec){
		func(s *Spec) { s.Mounts = []MountOptions{{HostDir: data, JailPath: "relative"}} },
		func(s *Spec) { s.Mounts = []MountOptions{{HostDir: data, JailPath: "/"}} },
		func(s *Spec) { s.Mounts = []MountOptions{{HostDir: data, JailPath: "/a b"}} },
		func(s *Spec) {
			s.Mounts = []MountOptions{{HostDir: data, JailPath: "/x"}, {HostDir: t.TempDir(), JailPath: "/x/"}}
		},
		func(s *Spec) { s.Hosts = []Host{{Name: "db", IP: "not-an-ip"}} },
		func(s *Spec) { s.Attributes = []Attribute{{Name: "persistent", Value: "YES"}} },
		func(s *Spec) { s.Env = []EnvVar{{Name: "A-B", Value: "x"}} },
		func(s *Spec) { s.Copies = []CopyOptions{{Source: "relative", Destination: "/x"}} },
	} {
		s := Spec{PrepareOptions: base}
		s.PrepareOptions.Name = uniqueName()
		bad(&s)
		var ce *CreateError
		if _, err := e.c.Create(e.ctx(), s); !errors.As(err, &ce) || ce.Prepared() {
			t.Fatalf("Create of %+v: %v, want a refusal before prepare", s, err)
		}
	}
	if e.tg.potsim && e.potsimCalls("prepare") != calls {
		t.Fatal("a spec Validate refuses reached pot prepare")
	}

	s := Spec{PrepareOptions: base}
	s.PrepareOptions.Name = uniqueName()
	name := e.prepare(s.PrepareOptions)
	_, err := e.c.Create(e.ctx(), s)
	if !errors.Is(err, ErrExists) {
		t.Fatalf("Create of a pot that is there: %v, want ErrExists", err)
	}
	if there, err := e.c.Exists(e.ctx(), name); err != nil || !there {
		t.Fatalf("the pot that was there is gone (%v)", err)
	}
	if !strings.Contains(err.Error(), name) {
		t.Fatalf("the error does not name the pot: %v", err)
	}
}
