package pot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// pot's import (share/pot/import.sh, _fetch_pot_internal) checks an image
// in two steps: with a public key, `signify -V` checks IMAGE_TAG.xz.skein.sig
// over IMAGE_TAG.xz.skein; then the .skein must be skein1024 of the image
// and its .meta. pot checks an image only when it imports it: a start that
// finds the image pot already there clones it unchecked. What is here lets
// the driver tie such an image to a signature: the hash it was imported
// with (ImageHash, kept by the driver) against the server's signed .skein.

// signifyNames are where signify is found: FreeBSD's package installs
// /usr/local/bin/signify (not always on a service's PATH), Debian names it
// signify-openbsd.
var signifyNames = []string{"signify", "/usr/local/bin/signify", "signify-openbsd"}

// SignifyBin returns the signify program pot's import would run, or an
// error saying it is missing, as pot says it.
func SignifyBin() (string, error) {
	for _, n := range signifyNames {
		if p, err := exec.LookPath(n); err == nil {
			return p, nil
		}
	}
	return "", errors.New("could not find 'signify', try 'pkg install signify'")
}

// VerifySignature checks the signature sigFile of skeinFile with the public
// key file pubKey, as pot's import does (`signify -V -p KEY -x SIG -m
// SKEIN`). The error carries signify's own message.
func VerifySignature(ctx context.Context, pubKey, skeinFile, sigFile string) error {
	bin, err := SignifyBin()
	if err != nil {
		return err
	}
	for _, f := range []string{pubKey, skeinFile, sigFile} {
		if strings.HasPrefix(f, "-") || !filepath.IsAbs(f) {
			return fmt.Errorf("signature check: %q is not an absolute path", f)
		}
	}
	var out bytes.Buffer
	c := exec.CommandContext(ctx, bin, "-V", "-p", pubKey, "-x", sigFile, "-m", skeinFile)
	c.Stdout, c.Stderr = &out, &out
	if err := c.Run(); err != nil {
		msg := strings.TrimSpace(out.String())
		if msg == "" {
			msg = err.Error()
		}
		return fmt.Errorf("Signature verification failed: %s", msg)
	}
	return nil
}

// FetchSignature downloads the image's .skein and .skein.sig from the
// image server baseURL (http, https or file) into dir and returns their
// paths. A server without a .skein.sig has not signed the image.
func FetchSignature(ctx context.Context, baseURL, image, tag, dir string) (skeinFile, sigFile string, err error) {
	name := ImageFile(image, tag)
	if strings.ContainsAny(name, "/\x00") {
		return "", "", fmt.Errorf("image file name %q", name)
	}
	skeinFile = filepath.Join(dir, name+".skein")
	sigFile = skeinFile + ".sig"
	u, err := url.Parse(baseURL)
	if err != nil {
		return "", "", err
	}
	for _, f := range []string{skeinFile, sigFile} {
		switch u.Scheme {
		case "http", "https":
			err = download(ctx, strings.TrimSuffix(baseURL, "/")+"/"+filepath.Base(f), f, nil)
		case "file":
			err = copySmallFile(filepath.Join(u.Path, filepath.Base(f)), f)
		default:
			err = fmt.Errorf("image server %q: not http, https or file", baseURL)
		}
		if err != nil {
			return "", "", err
		}
	}
	return skeinFile, sigFile, nil
}

// maxHashFile bounds what is read of a .skein or .skein.sig (a .skein is
// 257 bytes, a signature about 200).
const maxHashFile = 64 << 10

func copySmallFile(src, dest string) error {
	b, err := readSmallFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dest, b, 0o600)
}

func readSmallFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxHashFile+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if len(b) > maxHashFile {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, maxHashFile)
	}
	return b, nil
}

// ImageHash returns the hash of the image IMAGE_TAG.xz as its .skein in dir
// gives it (the digest, without the line break), for the driver to keep
// with the image pot it imported from there.
func ImageHash(dir, image, tag string) (string, error) {
	b, err := readSmallFile(filepath.Join(dir, ImageFile(image, tag)+".skein"))
	if err != nil {
		return "", err
	}
	h := strings.TrimSpace(string(b))
	if h == "" || strings.ContainsAny(h, " \t\n") {
		return "", fmt.Errorf("%s.skein holds no hash", ImageFile(image, tag))
	}
	return h, nil
}
