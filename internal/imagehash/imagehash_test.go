package imagehash

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// abcStandIn is StandIn("abc"): SHA-512("abc") (FIPS 180-2's example)
// followed by the SHA-512 of those 64 bytes.
const abcStandIn = "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f" +
	"373a9f3a902cf561003b513c94c5164ba4af135cbc4eb4d856b89ea5609523f130bbe5e453e6c645b2765a265aaeb1390c82c913130870636cd0c8ecf980d851"

// The stand-in's value is pinned: fbsdemu's skein1024, potsim and every
// .skein the tests write must keep agreeing with images exported before.
func TestStandInPinned(t *testing.T) {
	got, err := StandIn(strings.NewReader("abc"))
	if err != nil {
		t.Fatal(err)
	}
	if got != abcStandIn {
		t.Fatalf("StandIn(abc) = %s, want %s", got, abcStandIn)
	}
}

// A .skein is the digest of the image followed by its .meta, and a newline;
// an image without .meta hashes as one with an empty .meta.
func TestSkeinAndWriteSkein(t *testing.T) {
	if got := string(Skein([]byte("ab"), []byte("c"))); got != abcStandIn+"\n" {
		t.Fatalf("Skein(ab, c) = %q", got)
	}
	if got := string(Skein([]byte("abc"), nil)); got != abcStandIn+"\n" {
		t.Fatalf("Skein(abc, nil) = %q", got)
	}
	dir := t.TempDir()
	for _, c := range []struct{ name, image, meta string }{{"with_meta.xz", "a", "bc"}, {"without_meta.xz", "abc", ""}} {
		p := filepath.Join(dir, c.name)
		if err := os.WriteFile(p, []byte(c.image), 0o644); err != nil {
			t.Fatal(err)
		}
		if c.meta != "" {
			if err := os.WriteFile(p+".meta", []byte(c.meta), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := WriteSkein(p); err != nil {
			t.Fatal(err)
		}
		if got, err := os.ReadFile(p + ".skein"); err != nil || string(got) != abcStandIn+"\n" {
			t.Fatalf("%s.skein = %q, %v", c.name, got, err)
		}
	}
	if err := WriteSkein(filepath.Join(dir, "missing.xz")); err == nil {
		t.Fatal("WriteSkein of a missing image: no error")
	}
}
