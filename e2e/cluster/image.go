package cluster

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bsdpot/nomad-pot-driver/internal/imagehash"
)

// The image the tests and the Linux demo run: pot prepare fetches
// URL/IMAGE_TAG.xz. pot's images are ZFS streams; potsim takes a tar
// archive of the root file system (gzip-compressed here) under that name.
const (
	ImageName = "e2e-base"
	ImageTag  = "1.0"
	// ImageRelease is the content of etc/image-release in the image.
	ImageRelease = "e2e-base 1.0 (the e2e test image)\n"
)

// ImageServer is a small HTTP server of pot images, as an operator would
// run one (any static file server does).
type ImageServer struct {
	URL string // base URL for a job's config { image = ... }
	Dir string

	srv *http.Server
	ln  net.Listener

	mu       sync.Mutex
	requests map[string]int
	slow     time.Duration // SlowDown
}

// SlowDown makes every later download of an image (.xz) take about d: the
// file is sent in twelve pieces, d/12 apart, as from a slow link.
func (s *ImageServer) SlowDown(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.slow = d
}

// serveSlowly sends the file at path in twelve pieces over d.
func serveSlowly(w http.ResponseWriter, path string, d time.Duration) {
	b, err := os.ReadFile(path)
	if err != nil {
		http.NotFound(w, nil)
		return
	}
	const pieces = 12
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	for i := 0; i < pieces; i++ {
		if _, err := w.Write(b[i*len(b)/pieces : (i+1)*len(b)/pieces]); err != nil {
			return
		}
		w.(http.Flusher).Flush()
		time.Sleep(d / pieces)
	}
}

// StartImageServer writes the test image into dir and serves dir on a free
// loopback port.
func StartImageServer(dir string) (*ImageServer, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	image := filepath.Join(dir, ImageName+"_"+ImageTag+".xz")
	if err := writeImage(image); err != nil {
		return nil, err
	}
	// An image server has the image's hash next to it, which potsim
	// checks as pot does (no .meta: hashed as an empty one).
	if err := imagehash.WriteSkein(image); err != nil {
		return nil, err
	}
	return ServeImages(dir)
}

// ServeImages serves the images in dir (as pot export writes them) on a
// free loopback port.
func ServeImages(dir string) (*ImageServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &ImageServer{Dir: dir, URL: "http://" + ln.Addr().String() + "/images", ln: ln, requests: map[string]int{}}
	files := http.StripPrefix("/images", http.FileServer(http.Dir(dir)))
	s.srv = &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.mu.Lock()
			s.requests[r.URL.Path]++
			slow := s.slow
			s.mu.Unlock()
			if rel, ok := strings.CutPrefix(r.URL.Path, "/images/"); ok && slow > 0 && strings.HasSuffix(rel, ".xz") && !strings.Contains(rel, "/") {
				serveSlowly(w, filepath.Join(dir, rel), slow)
				return
			}
			files.ServeHTTP(w, r)
		}),
	}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Requests returns how often path (e.g. "/images/e2e-base_1.0.xz") was
// asked for.
func (s *ImageServer) Requests(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[path]
}

// Close stops the server.
func (s *ImageServer) Close() error {
	if s == nil || s.srv == nil {
		return nil
	}
	return s.srv.Close()
}

// writeImage writes a gzip'd tar of a tiny root file system.
func writeImage(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	zw := gzip.NewWriter(f)
	tw := tar.NewWriter(zw)
	now := time.Now()
	for _, d := range []string{"bin/", "etc/", "tmp/", "root/", "usr/", "usr/local/", "usr/local/etc/", "mnt/", "var/", "var/log/"} {
		if err := tw.WriteHeader(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: now}); err != nil {
			return err
		}
	}
	for name, body := range map[string]string{
		"etc/image-release": ImageRelease,
		"etc/hosts":         "127.0.0.1 localhost\n",
		// The base system's sh, which the jobs run: potsim runs the
		// host's (its jails are not chroots), but the driver looks for a
		// program that cannot run in the jail's own file system.
		"bin/sh": "#!/bin/sh\n# stands for FreeBSD's sh\n",
	} {
		mode := int64(0o644)
		if strings.HasPrefix(name, "bin/") {
			mode = 0o755
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: mode, Size: int64(len(body)), ModTime: now}); err != nil {
			return err
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// copyTestImage copies the test image's files (IMAGE_TAG.xz and what
// lies beside it: .skein, .meta) from src into dest.
func copyTestImage(src, dest string) error {
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return err
	}
	files, err := filepath.Glob(filepath.Join(src, ImageName+"_"+ImageTag+".xz*"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no test image %s_%s.xz in %s (%v)", ImageName, ImageTag, src, err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dest, filepath.Base(f)), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// CopyImage serves the test image also as image name (same file system,
// its own files, unsigned), e.g. to sign or tamper with it.
func (s *ImageServer) CopyImage(name string) error {
	for _, ext := range []string{".xz", ".xz.skein", ".xz.meta"} {
		b, err := os.ReadFile(filepath.Join(s.Dir, ImageName+"_"+ImageTag+ext))
		if err != nil {
			if ext == ".xz.meta" && errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return err
		}
		if err := os.WriteFile(filepath.Join(s.Dir, name+"_"+ImageTag+ext), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// SigningKeys makes a signify key pair NAME.pub, NAME.sec in dir, as an
// image server's operator does.
func SigningKeys(dir, name string) (pub, sec string, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	return imagehash.KeyPair(dir, name)
}

// SignImage signs image IMAGE_TAG.xz in dir with the secret key: its
// .skein gets a .skein.sig, which pot checks with the public key.
func SignImage(dir, image, tag, secKey string) error {
	return imagehash.Sign(secKey, filepath.Join(dir, image+"_"+tag+".xz.skein"))
}
