// Package imagehash is the hash pot checks an image against, as this
// project's Linux stand-ins compute it. pot export writes IMAGE.skein as
// `cat IMAGE IMAGE.meta | skein1024 -q`, and pot import compares it byte for
// byte (cmp) with the same pipeline run on what it fetched. Go has no
// Skein-1024, so cmd/fbsdemu's skein1024 and potsim use StandIn instead,
// and the tests and image servers that feed them write their .skein with
// it: images made and checked here agree with each other, never with an
// image hashed on FreeBSD.
package imagehash

import (
	"bytes"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
)

// StandIn is NOT Skein-1024: a digest of the same length (1024 bits,
// SHA-512 of the data followed by SHA-512 of that), in hex as `skein1024
// -q` prints it, without the newline.
func StandIn(r io.Reader) (string, error) {
	h := sha512.New()
	if _, err := io.Copy(h, r); err != nil {
		return "", err
	}
	a := h.Sum(nil)
	b := sha512.Sum512(a)
	return hex.EncodeToString(append(a, b[:]...)), nil
}

// Skein is the content of IMAGE.skein for an image and its .meta held in
// memory (nil for an image served without one: pot then hashes an empty
// .meta): the stand-in digest of the two one after the other, and the
// newline `skein1024 -q` ends its line with.
func Skein(image, meta []byte) []byte {
	// Reading from memory cannot fail.
	d, _ := StandIn(io.MultiReader(bytes.NewReader(image), bytes.NewReader(meta)))
	return []byte(d + "\n")
}

// WriteSkein writes IMAGE.skein beside the image file at path, hashing the
// image and IMAGE.meta where that exists, as pot export does.
func WriteSkein(path string) error {
	image, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	meta, err := os.ReadFile(path + ".meta")
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return os.WriteFile(path+".skein", Skein(image, meta), 0o644)
}
