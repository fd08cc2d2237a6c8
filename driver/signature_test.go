package driver

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/nomad/plugins/drivers"
	dtestutil "github.com/hashicorp/nomad/plugins/drivers/testutils"

	"github.com/bsdpot/nomad-pot-driver/hclspec"
	"github.com/bsdpot/nomad-pot-driver/internal/imagehash"
	"github.com/bsdpot/nomad-pot-driver/pot"
)

// signedImages is an image server of a test's own, holding copies of the
// test image under names of their own, signed (or not) as a case needs.
type signedImages struct {
	t   *testing.T
	dir string
	url string
}

func newSignedImages(t *testing.T) *signedImages {
	t.Helper()
	s := &signedImages{t: t, dir: t.TempDir()}
	srv := httptest.NewServer(http.FileServer(http.Dir(s.dir)))
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

// file is the path of IMAGE_TAG.xz on the server (plus suffix).
func (s *signedImages) file(image, suffix string) string {
	return filepath.Join(s.dir, pot.ImageFile(image, testTag)+suffix)
}

// add puts the test image on the server as image, with its .skein (and
// .meta where the test image has one), signed with secKey unless "".
func (s *signedImages) add(image, secKey string) {
	s.t.Helper()
	if onRealPot {
		// pot export's files, its .skein made by the emulation's
		// skein1024.
		src := strings.TrimSuffix(os.Getenv("POT_DRIVER_TEST_IMAGE"), ".xz")
		for _, ext := range []string{".xz", ".xz.skein", ".xz.meta"} {
			b, err := os.ReadFile(src + ext)
			if err != nil && ext == ".xz.meta" {
				continue
			}
			if err != nil {
				s.t.Fatal(err)
			}
			mkfile(s.t, s.file(image, strings.TrimPrefix(ext, ".xz")), string(b))
		}
	} else {
		mkfile(s.t, s.file(image, ""), string(testImageTar(s.t)))
		if err := imagehash.WriteSkein(s.file(image, "")); err != nil {
			s.t.Fatal(err)
		}
	}
	if secKey != "" {
		s.sign(image, secKey)
	}
}

// sign signs the image's .skein as an image server's operator does.
func (s *signedImages) sign(image, secKey string) {
	s.t.Helper()
	if err := imagehash.Sign(secKey, s.file(image, ".skein")); err != nil {
		s.t.Fatal(err)
	}
}

// keyPair makes a signify key pair in dir, returning the public and the
// secret key files.
func keyPair(t *testing.T, dir, name string) (pub, sec string) {
	t.Helper()
	pub, sec, err := imagehash.KeyPair(dir, name)
	if err != nil {
		t.Fatal(err)
	}
	return pub, sec
}

// signedTask is a task of image from the server, verified with key ("":
// none).
func (e *testEnv) signedTask(s *signedImages, name, image, key string) (*drivers.TaskConfig, *hclspec.TaskConfig) {
	cfg, tc := e.task(name, "echo signed")
	tc.Image, tc.Pot, tc.SignaturePubkey = s.url, image, key
	return cfg, tc
}

func (e *testEnv) hasPot(name string) bool {
	e.t.Helper()
	names, err := e.client.List(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return slices.Contains(names, name)
}

// runsSigned starts the task and wants it to run to exit 0; it returns the
// task's events' messages.
func runsSigned(t *testing.T, e *testEnv, h *dtestutil.DriverHarness, cfg *drivers.TaskConfig, tc *hclspec.TaskConfig) []string {
	t.Helper()
	events := taskEvents(t, h)
	start(t, h, cfg, tc)
	if res := waitResult(t, h, cfg.ID, time.Minute); res.ExitCode != 0 || res.Err != nil {
		t.Fatalf("%s: exit %d, %v", cfg.Name, res.ExitCode, res.Err)
	}
	var msgs []string
	for {
		select {
		case ev := <-events:
			if ev.TaskID == cfg.ID {
				msgs = append(msgs, ev.Message)
			}
		default:
			return msgs
		}
	}
}

func imported(msgs []string) bool {
	return slices.ContainsFunc(msgs, func(m string) bool { return strings.HasPrefix(m, "Importing image ") })
}

// TestSignedImages: pot checks an image's signature when the task (or the
// plugin's default) gives a key, and the driver keeps an image pot it
// cannot tie to that key's signature from being used.
func TestSignedImages(t *testing.T) {
	e := newTestEnv(t)
	srv := newSignedImages(t)
	keys := t.TempDir()
	pub, sec := keyPair(t, keys, "images")
	otherPub, otherSec := keyPair(t, keys, "other")
	elsewhere := t.TempDir()
	strayPub, _ := keyPair(t, elsewhere, "stray")
	_, h := e.newDriverWith(&hclspec.PluginConfig{PotBin: potsimBin, HostPathAllow: []string{keys}})
	imagePot := func(image string) string { return pot.ImageName(image, testTag) }
	// Steps, not subtests: the env and its checks are the test's.
	step := func(name string, f func()) { t.Logf("--- %s", name); f() }

	step("signed", func() {
		srv.add(testImage+"-signed", sec)
		cfg, tc := e.signedTask(srv, "signed", testImage+"-signed", pub)
		if !imported(runsSigned(t, e, h, cfg, tc)) {
			t.Error("the first start did not import the image")
		}
		// The image pot now carries the key: a second start clones it
		// without asking the server.
		if err := os.Remove(srv.file(testImage+"-signed", ".skein.sig")); err != nil {
			t.Fatal(err)
		}
		cfg, tc = e.signedTask(srv, "signed-again", testImage+"-signed", pub)
		if imported(runsSigned(t, e, h, cfg, tc)) {
			t.Error("the second start imported the image again")
		}
	})
	step("wrong key", func() {
		srv.add(testImage+"-wrongkey", otherSec)
		cfg, tc := e.signedTask(srv, "wrong-key", testImage+"-wrongkey", pub)
		e.startFails(h, cfg, tc, "Signature verification failed")
		if e.hasPot(imagePot(testImage + "-wrongkey")) {
			t.Error("the image was imported")
		}
	})
	step("unsigned", func() {
		srv.add(testImage+"-unsigned", "")
		cfg, tc := e.signedTask(srv, "unsigned", testImage+"-unsigned", pub)
		e.startFails(h, cfg, tc, ".skein.sig")
		if e.hasPot(imagePot(testImage + "-unsigned")) {
			t.Error("the image was imported")
		}
	})
	step("tampered", func() {
		srv.add(testImage+"-tampered", sec)
		mkfile(t, srv.file(testImage+"-tampered", ""), "not the image that was signed")
		cfg, tc := e.signedTask(srv, "tampered", testImage+"-tampered", pub)
		e.startFails(h, cfg, tc, "The image and its hash do not overlap")
		if e.hasPot(imagePot(testImage + "-tampered")) {
			t.Error("the image was imported")
		}
	})
	step("key not under host_path_allow", func() {
		srv.add(testImage+"-stray", sec)
		cfg, tc := e.signedTask(srv, "stray-key", testImage+"-stray", strayPub)
		e.startFails(h, cfg, tc, "signature_pubkey", "host_path_allow")
	})
	step("imported unsigned, then started signed", func() {
		// The driver imported the image for a task without a key; it
		// kept the image's hash, which the signature covers.
		srv.add(testImage+"-later", sec)
		cfg, tc := e.signedTask(srv, "later-unsigned", testImage+"-later", "")
		runsSigned(t, e, h, cfg, tc)
		cfg, tc = e.signedTask(srv, "later-signed", testImage+"-later", pub)
		if imported(runsSigned(t, e, h, cfg, tc)) {
			t.Error("the image was imported again")
		}
		// The other key signs nothing here.
		cfg, tc = e.signedTask(srv, "later-other-key", testImage+"-later", otherPub)
		e.startFails(h, cfg, tc, "Signature verification failed")
	})
	step("server signs another image now", func() {
		srv.add(testImage+"-changed", "")
		cfg, tc := e.signedTask(srv, "changed-unsigned", testImage+"-changed", "")
		runsSigned(t, e, h, cfg, tc)
		// A new build under the same tag, signed: the image pot is
		// not what the signature covers.
		mkfile(t, srv.file(testImage+"-changed", ".skein"), strings.Repeat("0", 256)+"\n")
		srv.sign(testImage+"-changed", sec)
		cfg, tc = e.signedTask(srv, "changed-signed", testImage+"-changed", pub)
		e.startFails(h, cfg, tc, "imported from another image", "pot destroy -p "+imagePot(testImage+"-changed"))
	})
	step("imported by someone else", func() {
		// pot imported it (an operator, the bsdpot driver): nothing
		// ties it to a signature. Unused, it is imported again.
		image := testImage + "-foreign"
		srv.add(image, sec)
		p, err := e.client.Prepare(context.Background(), pot.PrepareOptions{URL: srv.url, Image: image, Tag: testTag,
			Name: "foreign", Alloc: "x", Argv: []string{"/bin/sh", "-c", "true"}, Network: pot.NetworkInherit})
		if err != nil {
			t.Fatal(err)
		}
		// In use by a pot, it cannot be.
		cfg, tc := e.signedTask(srv, "foreign-in-use", image, pub)
		e.startFails(h, cfg, tc, "was not imported by this driver", "cannot be imported again")
		if err := e.client.Destroy(context.Background(), p, true); err != nil {
			t.Fatal(err)
		}
		cfg, tc = e.signedTask(srv, "foreign", image, pub)
		msgs := runsSigned(t, e, h, cfg, tc)
		if !slices.ContainsFunc(msgs, func(m string) bool { return strings.Contains(m, "importing it again") }) || !imported(msgs) {
			t.Errorf("events %q: want the image imported again", msgs)
		}
	})
	step("required", func() {
		_, hr := e.newDriverWith(&hclspec.PluginConfig{PotBin: potsimBin, RequireSignedImages: true})
		srv.add(testImage+"-required", sec)
		cfg, tc := e.signedTask(srv, "required", testImage+"-required", "")
		e.startFails(hr, cfg, tc, "signature_pubkey", "require_signed_images")
		if e.hasPot(imagePot(testImage + "-required")) {
			t.Error("the image was imported")
		}
	})
	step("plugin's default key", func() {
		_, hd := e.newDriverWith(&hclspec.PluginConfig{PotBin: potsimBin, DefaultSignaturePubkey: pub, RequireSignedImages: true})
		srv.add(testImage+"-default", sec)
		cfg, tc := e.signedTask(srv, "default-key", testImage+"-default", "")
		runsSigned(t, e, hd, cfg, tc)
		srv.add(testImage+"-default-other", otherSec)
		cfg, tc = e.signedTask(srv, "default-key-other", testImage+"-default-other", "")
		e.startFails(hd, cfg, tc, "Signature verification failed")
	})
}

// TestSignatureFingerprint: the fingerprint says whether images are
// verified by default and whether a key is required; a default key that
// cannot be read makes the driver unhealthy.
func TestSignatureFingerprint(t *testing.T) {
	e := newTestEnv(t)
	pub, _ := keyPair(t, t.TempDir(), "images")
	for _, c := range []struct {
		cfg              hclspec.PluginConfig
		defKey, required bool
		healthy          bool
	}{
		{hclspec.PluginConfig{}, false, false, true},
		{hclspec.PluginConfig{DefaultSignaturePubkey: pub, RequireSignedImages: true}, true, true, true},
		{hclspec.PluginConfig{RequireSignedImages: true}, false, true, true},
		{hclspec.PluginConfig{DefaultSignaturePubkey: pub + ".missing"}, true, false, false},
	} {
		c.cfg.PotBin = potsimBin
		d, _ := e.newDriverWith(&c.cfg)
		fp := d.fingerprint(context.Background())
		for attr, want := range map[string]bool{"driver.pot.signature_default_key": c.defKey, "driver.pot.require_signed_images": c.required} {
			if got, ok := fp.Attributes[attr].GetBool(); !ok || got != want {
				t.Errorf("%+v: %s = %v, want %v", c.cfg, attr, got, want)
			}
		}
		if healthy := fp.Health == drivers.HealthStateHealthy; healthy != c.healthy {
			t.Errorf("%+v: health %s (%s), want healthy %v", c.cfg, fp.Health, fp.HealthDescription, c.healthy)
		}
	}
}
