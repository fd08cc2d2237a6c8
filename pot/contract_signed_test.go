package pot

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bsdpot/nomad-pot-driver/internal/imagehash"
)

// emulationEnv is set on every process of the FreeBSD emulation (`fbsdemu
// run`, make test-realpot).
const emulationEnv = "FBSDEMU_STATE"

// ownImages says whether a test can serve images of its own that pot
// accepts: on potsim, and on pot's scripts on the emulation, whose
// skein1024 is imagehash's stand-in and whose image (a file:// folder) the
// test can read. Not on a real host: its image server is not the test's,
// its skein1024 is Skein-1024.
func (tg contractTarget) ownImages() bool {
	return tg.potsim || (os.Getenv(emulationEnv) != "" && strings.HasPrefix(tg.imageURL, "file://"))
}

// ownImage is an image server of the test's own and the suite's image (and
// its .meta) for it to serve under names of the test's: potsim's image, or
// on the emulation the one pot export made. The test skips where it cannot
// have one (ownImages).
func (e *potEnv) ownImage() (srv *imageServer, image, meta []byte) {
	e.t.Helper()
	if !e.tg.ownImages() {
		e.t.Skip("real pot: signing or altering an image needs an image server of the test's own (potsim, the FreeBSD emulation)")
	}
	if e.tg.potsim {
		return e.srv, testImage(e.t), nil
	}
	path := filepath.Join(strings.TrimPrefix(e.url, "file://"), ImageFile(e.image, e.tag))
	image, err := os.ReadFile(path)
	if err != nil {
		e.t.Fatal(err)
	}
	if meta, err = os.ReadFile(path + ".meta"); err != nil && !os.IsNotExist(err) {
		e.t.Fatal(err)
	}
	return newImageServer(e.t), image, meta
}

// keyPair generates a signify key pair: the public and the secret key's
// files.
func keyPair(t *testing.T, name string) (pub, sec string) {
	t.Helper()
	pub, sec, err := imagehash.KeyPair(t.TempDir(), name)
	if err != nil {
		t.Fatal(err)
	}
	return pub, sec
}

// sign serves IMAGE_TAG.xz.skein.sig, the server's .skein signed with sec
// as `pot export -s` signs it.
func (s *imageServer) sign(t *testing.T, image, tag, sec string) {
	t.Helper()
	name := ImageFile(image, tag) + ".skein"
	msg := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(msg, s.file(name), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := imagehash.Sign(sec, msg); err != nil {
		t.Fatal(err)
	}
	sig, err := os.ReadFile(msg + ".sig")
	if err != nil {
		t.Fatal(err)
	}
	s.putFile(name+".sig", sig)
}

// signedCase is one subtest: the image it prepares from, on an image
// server of its own (srv) where it makes or alters the image.
type signedCase struct {
	e               *potEnv
	srv             *imageServer
	url, image, tag string
}

// newOwnImageCase serves the suite's image under a fresh name (pot caches
// IMAGE_TAG.xz and the rest by name, and on pot's scripts every test shares
// that cache) on the subtest's own image server.
func newOwnImageCase(e *potEnv) *signedCase {
	srv, image, meta := e.ownImage()
	c := &signedCase{e: e, srv: srv, url: srv.URL(), image: uniqueName(), tag: simTag}
	srv.put(c.image, c.tag, image, meta)
	return c
}

func (c *signedCase) options(pubkey string) PrepareOptions {
	return PrepareOptions{URL: c.url, Image: c.image, Tag: c.tag, Name: uniqueName(), Alloc: "a1",
		Argv: sh("exit 0"), PubKey: pubkey}
}

// fails prepares with the key and checks pot's exit 1 and its messages,
// and that neither the pot nor the image pot exists afterwards.
func (c *signedCase) fails(pubkey string, msgs ...string) {
	c.e.t.Helper()
	o := c.options(pubkey)
	pname, img := PotName(o.Name, o.Alloc), ImageName(c.image, c.tag)
	c.e.destroyAtEnd(img)
	c.e.destroyAtEnd(pname)
	_, err := c.e.c.Prepare(c.e.ctx(), o)
	wantPotError(c.e.t, "prepare -C "+pubkey, err, 1, msgs...)
	pots, err := c.e.c.List(c.e.ctx())
	if err != nil {
		c.e.t.Fatal(err)
	}
	if slices.Contains(pots, pname) || slices.Contains(pots, img) {
		c.e.t.Fatalf("a failed prepare left pots behind: %q", pots)
	}
}

// succeeds prepares with the key and checks that the pot and the image pot
// exist; the image pot is destroyed at the end where it is the test's own.
func (c *signedCase) succeeds(pubkey string) {
	c.e.t.Helper()
	img := ImageName(c.image, c.tag)
	if c.srv != nil {
		c.e.destroyAtEnd(img)
	}
	o := c.options(pubkey)
	name := c.e.prepare(o)
	pots, err := c.e.c.List(c.e.ctx())
	if err != nil {
		c.e.t.Fatal(err)
	}
	if !slices.Contains(pots, name) || !slices.Contains(pots, img) {
		c.e.t.Fatalf("ls -q = %q, want the pot %s and the image pot %s", pots, name, img)
	}
	if c.e.tg.potsim {
		if got := c.e.readJail(name, imageMarker); got != "pot contract image\n" {
			c.e.t.Fatalf("the pot's file system is not the image's: %s = %q", imageMarker, got)
		}
	}
}

// wantRequests checks how often pot asked the test's server for each of
// the image's files (by suffix of IMAGE_TAG.xz).
func (c *signedCase) wantRequests(want map[string]int) {
	c.e.t.Helper()
	for suffix, n := range want {
		name := ImageFile(c.image, c.tag) + suffix
		if got := c.srv.fileRequests(name); got != n {
			c.e.t.Errorf("%s was asked for %d times, want %d", name, got, n)
		}
	}
}

// Prepare with a public key (-C, passed on to pot import) verifies the
// image as pot import does: the .skein's signature with signify before the
// image is fetched, then the image and its .meta against the .skein. A
// failure is retried once with nothing cached, then ends prepare with exit
// 1, leaving neither the pot nor an image pot. The keys are made by the
// test; the cases that sign or alter an image need an image server of the
// test's own, and skip on a real host.
func TestContractPrepareSignedImage(t *testing.T) {
	t.Parallel()
	// Made once for the subtests that sign (which skip where the test
	// cannot serve its own images).
	var rightPub, rightSec, wrongPub string
	if getTarget(t).ownImages() {
		rightPub, rightSec = keyPair(t, "right")
		wrongPub, _ = keyPair(t, "wrong")
	}

	t.Run("right key", func(t *testing.T) {
		t.Parallel()
		c := newOwnImageCase(newPotEnv(t))
		c.srv.sign(t, c.image, c.tag, rightSec)
		c.succeeds(rightPub)
		c.wantRequests(map[string]int{".skein": 1, ".skein.sig": 1, "": 1})
	})
	t.Run("no signature on the server", func(t *testing.T) {
		t.Parallel()
		c := newOwnImageCase(newPotEnv(t))
		c.fails(rightPub, ImageFile(c.image, c.tag)+".skein.sig")
		// Tried twice, and the image never fetched without its signature.
		c.wantRequests(map[string]int{".skein": 2, ".skein.sig": 2, "": 0})
	})
	t.Run("wrong key", func(t *testing.T) {
		t.Parallel()
		c := newOwnImageCase(newPotEnv(t))
		c.srv.sign(t, c.image, c.tag, rightSec)
		c.fails(wrongPub, "Signature verification failed")
		c.wantRequests(map[string]int{".skein.sig": 2, "": 0})
	})
	t.Run("tampered image", func(t *testing.T) {
		t.Parallel()
		c := newOwnImageCase(newPotEnv(t))
		c.srv.sign(t, c.image, c.tag, rightSec)
		name := ImageFile(c.image, c.tag)
		c.srv.putFile(name, append(slices.Clone(c.srv.file(name)), "changed after it was hashed"...))
		c.fails(rightPub, "The image and its hash do not overlap")
		c.wantRequests(map[string]int{".skein.sig": 2, "": 2})
	})
	t.Run("no key, unsigned image", func(t *testing.T) {
		t.Parallel()
		e := newPotEnv(t)
		if !e.tg.ownImages() {
			// The host's image, as every other test prepares it.
			(&signedCase{e: e, url: e.url, image: e.image, tag: e.tag}).succeeds("")
			return
		}
		c := newOwnImageCase(e)
		c.succeeds("")
		c.wantRequests(map[string]int{".skein": 1, ".skein.sig": 0, "": 1})
	})
	t.Run("key file missing", func(t *testing.T) {
		t.Parallel()
		e := newPotEnv(t)
		missing := filepath.Join(t.TempDir(), "nosuch.pub")
		// A tag never imported, so that pot imports (and checks the key).
		c := &signedCase{e: e, url: e.url, image: e.image, tag: "9.9." + uniqueName()}
		c.fails(missing, "Public key "+missing+" not found")
		if e.tg.potsim {
			if n := e.srv.fileRequests(ImageFile(c.image, c.tag) + ".skein"); n != 0 {
				t.Fatalf("the .skein was asked for %d times before the key was found missing", n)
			}
		}
	})
}
