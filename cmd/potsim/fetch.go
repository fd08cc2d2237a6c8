package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/bsdpot/nomad-pot-driver/internal/imagehash"
)

// fetchPot is import.sh's _fetch_pot: fetch the image FILENAME (IMAGE_TAG.xz)
// and its .skein, .skein.sig (given a public key) and .meta into the cache
// and check them; if that fails, remove the four and try once more, as pot
// does when what it had cached is stale.
func fetchPot(base, filename, pubkey string) bool {
	if fetchPotInternal(base, filename, pubkey) {
		return true
	}
	cached := filepath.Join(cacheDir(), filename)
	for _, suffix := range []string{"", ".meta", ".skein", ".skein.sig"} {
		os.Remove(cached + suffix)
	}
	return fetchPotInternal(base, filename, pubkey)
}

// fetchPotInternal is _fetch_pot_internal, step for step: the .skein, the
// signature of the .skein (given a key), the image, its .meta (made empty
// when the server has none), and the hash of image and .meta against the
// .skein. A file already in the cache is not fetched again.
func fetchPotInternal(base, filename, pubkey string) bool {
	cached := filepath.Join(cacheDir(), filename)
	if fetchImage(base, filename+".skein", cached+".skein") != nil {
		return false
	}
	if pubkey != "" {
		if fetchImage(base, filename+".skein.sig", cached+".skein.sig") != nil {
			return false
		}
		if !signifyVerify(pubkey, cached+".skein.sig", cached+".skein") {
			errorf("Signature verification failed")
			return false
		}
		debugf("Signature verification succeeded")
	}
	if fetchImage(base, filename, cached) != nil {
		return false
	}
	if fetchImage(base, filename+".meta", cached+".meta") != nil {
		// pot ignores a missing .meta, for images exported before it had them.
		infof("No %s.meta, ignoring", cached)
		if err := touch(cached + ".meta"); err != nil {
			stderrf("touch: %s: %v\n", cached+".meta", err)
		}
	}
	if !hashMatches(cached) {
		errorf("The image and its hash do not overlap")
		return false
	}
	debugf("Hash confirmed")
	return true
}

// signifyProgram is what pot's `type signify` finds: signify, or under
// Debian's name signify-openbsd (the same program); "" if neither is on PATH.
func signifyProgram() string {
	for _, name := range []string{"signify", "signify-openbsd"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// signifyVerify is `signify -V -p KEY -x SIG -m MESSAGE`; its messages go
// where pot lets them go, to potsim's own stdout and stderr.
func signifyVerify(pubkey, sig, message string) bool {
	cmd := exec.CommandContext(context.Background(), signifyProgram(), "-V", "-p", pubkey, "-x", sig, "-m", message)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return cmd.Run() == nil
}

// hashMatches is `cat IMAGE IMAGE.meta | skein1024 -q | cmp IMAGE.skein -`
// with imagehash's stand-in for Skein-1024 (as fbsdemu's skein1024
// computes it): the .skein must be the digest and its newline, byte for
// byte. A difference is reported as FreeBSD's cmp reports it.
func hashMatches(image string) bool {
	var parts []io.Reader
	for _, p := range []string{image, image + ".meta"} {
		f, err := os.Open(p)
		if err != nil {
			// cat complains and goes on with the next file.
			stderrf("cat: %s: %v\n", p, errors.Unwrap(err))
			continue
		}
		defer f.Close()
		parts = append(parts, f)
	}
	digest, err := imagehash.StandIn(io.MultiReader(parts...))
	if err != nil {
		stderrf("cat: %v\n", err)
	}
	want, err := os.ReadFile(image + ".skein")
	if err != nil {
		stderrf("cmp: %s: %v\n", image+".skein", errors.Unwrap(err))
		return false
	}
	return cmpReport(image+".skein", "-", want, []byte(digest+"\n"))
}

// cmpReport is cmp(1) on two contents: true when equal; otherwise FreeBSD
// cmp's message, "A B differ: char N, line L" on stdout, or "cmp: EOF on
// X" on stderr when one is the start of the other.
func cmpReport(nameA, nameB string, a, b []byte) bool {
	line := 1
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			fmt.Printf("%s %s differ: char %d, line %d\n", nameA, nameB, i+1, line)
			return false
		}
		if a[i] == '\n' {
			line++
		}
	}
	switch {
	case len(a) < len(b):
		stderrf("cmp: EOF on %s\n", nameA)
		return false
	case len(b) < len(a):
		stderrf("cmp: EOF on %s\n", nameB)
		return false
	}
	return true
}

// touch creates an empty file unless it exists.
func touch(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}

// fetchImage is `fetch URL/FILENAME --output DEST` unless DEST is already
// in the cache (pot keeps downloaded files in POT_CACHE and reuses them).
// Errors are reported on stderr the way fetch(1) reports them, naming the
// URL.
func fetchImage(base, filename, dest string) error {
	if isReadable(dest) {
		return nil
	}
	if base == "" {
		base = "file://"
	}
	full := base + "/" + filename
	if err := download(full, dest); err != nil {
		stderrf("fetch: %s: %v\n", full, err)
		os.Remove(dest)
		return err
	}
	return nil
}

func download(raw, dest string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("Invalid URL")
	}
	var body io.ReadCloser
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
		client := &http.Client{Timeout: 10 * time.Minute}
		resp, err := client.Get(raw)
		if err != nil {
			return fetchError(err)
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			text := http.StatusText(resp.StatusCode)
			if text == "" {
				text = fmt.Sprintf("HTTP status %d", resp.StatusCode)
			}
			return errors.New(text)
		}
		body = resp.Body
	case "file":
		p := u.Path
		if u.Host != "" && u.Host != "localhost" {
			p = "/" + u.Host + u.Path
		}
		f, err := os.Open(p)
		if err != nil {
			if os.IsNotExist(err) {
				return errors.New("No such file or directory")
			}
			return err
		}
		if st, err := f.Stat(); err == nil && st.IsDir() {
			f.Close()
			return errors.New("Is a directory")
		}
		body = f
	default:
		return errors.New("Invalid URL")
	}
	defer body.Close()
	tmp := dest + ".part"
	out, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, body); err != nil {
		out.Close()
		os.Remove(tmp)
		return err
	}
	if err := out.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, dest)
}

// fetchError words a transfer error as fetch(1) does.
func fetchError(err error) error {
	var dnsErr *net.DNSError
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return errors.New("Connection refused")
	case errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTUNREACH):
		return errors.New("No route to host")
	case errors.As(err, &dnsErr):
		return errors.New("No address record")
	case errors.As(err, &ne) && ne.Timeout():
		return errors.New("Operation timed out")
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err
}

// unpackImage stands in for `xzcat IMAGE | zfs receive`. An image potsim
// understands is a tar archive, compressed with xz (needs the xz tool),
// gzip or bzip2, or not compressed. If the archive holds conf/pot.conf, it
// is a whole pot (conf/ and m/); otherwise it is the pot's root file
// system. Any other content is accepted as an opaque image: the pot starts
// with an empty file system.
func unpackImage(image, jdir string) error {
	f, err := os.Open(image)
	if err != nil {
		return err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	head, _ := br.Peek(6)
	var r io.Reader = br
	var wait func() error
	switch {
	case bytes.HasPrefix(head, []byte{0xFD, '7', 'z', 'X', 'Z', 0x00}):
		if _, err := exec.LookPath("xz"); err != nil {
			stderrf("potsim: xz is not installed, the image %s is used as an empty pot\n", image)
			return nil
		}
		cmd := exec.Command("xz", "-dc")
		cmd.Stdin = br
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			return err
		}
		if err := cmd.Start(); err != nil {
			return err
		}
		r = out
		wait = func() error {
			_, _ = io.Copy(io.Discard, out)
			return cmd.Wait()
		}
	case bytes.HasPrefix(head, []byte{0x1F, 0x8B}):
		gz, err := gzip.NewReader(br)
		if err != nil {
			return err
		}
		r = gz
	case bytes.HasPrefix(head, []byte("BZh")):
		r = bzip2.NewReader(br)
	}
	err = untarImage(r, jdir)
	if wait != nil {
		if werr := wait(); err == nil && werr != nil {
			err = fmt.Errorf("xz: %v", werr)
		}
	}
	return err
}

func untarImage(r io.Reader, jdir string) error {
	br := bufio.NewReaderSize(r, 1024)
	block, _ := br.Peek(512)
	if len(block) < 512 || !bytes.HasPrefix(block[257:], []byte("ustar")) {
		return nil // opaque image
	}
	// Stage the archive to decide between a whole pot and a file system.
	stage, err := os.MkdirTemp(jdir, ".unpack")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage)
	if err := extractTar(tar.NewReader(br), stage); err != nil {
		return err
	}
	if isReadable(filepath.Join(stage, "conf", "pot.conf")) {
		entries, err := os.ReadDir(stage)
		if err != nil {
			return err
		}
		for _, e := range entries {
			dst := filepath.Join(jdir, e.Name())
			if e.Name() == "m" || e.Name() == "conf" {
				os.RemoveAll(dst)
				if err := os.Rename(filepath.Join(stage, e.Name()), dst); err != nil {
					return err
				}
			}
		}
		return nil
	}
	m := filepath.Join(jdir, "m")
	os.RemoveAll(m)
	return os.Rename(stage, m)
}

// extractTar unpacks an archive below dir, refusing entries that would
// leave it.
func extractTar(tr *tar.Reader, dir string) error {
	type dirMode struct {
		path string
		mode os.FileMode
		mt   time.Time
	}
	var dirs []dirMode
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		name := filepath.Clean("/" + h.Name)
		if name == "/" {
			continue
		}
		target := filepath.Join(dir, name)
		if !parentsInside(dir, target) {
			return fmt.Errorf("%s: the archive leaves its folder through a symbolic link", h.Name)
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		mode := os.FileMode(h.Mode & 0o7777)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
			dirs = append(dirs, dirMode{target, mode, h.ModTime})
		case tar.TypeReg, tar.TypeRegA:
			os.Remove(target)
			f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
			if err != nil {
				return err
			}
			if _, err := io.Copy(f, tr); err != nil {
				f.Close()
				return err
			}
			f.Close()
			_ = os.Chmod(target, mode)
			_ = os.Chtimes(target, h.ModTime, h.ModTime)
		case tar.TypeSymlink:
			os.Remove(target)
			if err := os.Symlink(h.Linkname, target); err != nil {
				return err
			}
		case tar.TypeLink:
			src := filepath.Join(dir, filepath.Clean("/"+h.Linkname))
			os.Remove(target)
			if err := os.Link(src, target); err != nil {
				return err
			}
		default:
			continue // devices, fifos: not needed in a potsim pot
		}
		if os.Geteuid() == 0 {
			_ = os.Lchown(target, h.Uid, h.Gid)
		}
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		_ = os.Chmod(dirs[i].path, dirs[i].mode)
		_ = os.Chtimes(dirs[i].path, dirs[i].mt, dirs[i].mt)
	}
	return nil
}

// parentsInside reports whether no folder between dir and target is a
// symbolic link, so that writing target stays inside dir.
func parentsInside(dir, target string) bool {
	rel, err := filepath.Rel(dir, filepath.Dir(target))
	if err != nil || strings.HasPrefix(rel, "..") {
		return false
	}
	if rel == "." {
		return true
	}
	p := dir
	for _, c := range strings.Split(rel, string(filepath.Separator)) {
		p = filepath.Join(p, c)
		st, err := os.Lstat(p)
		if err != nil {
			return os.IsNotExist(err) // missing: will be created as a folder
		}
		if st.Mode()&os.ModeSymlink != 0 {
			return false
		}
	}
	return true
}
