package pot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// ImageFile is the name of an image on pot's image server (and in its
// cache): IMAGE_TAG.xz, the tag's dots kept. Next to it are its .skein
// (the hash pot checks), and optionally its .skein.sig (the signature pot
// checks when given a public key) and .meta.
func ImageFile(image, tag string) string { return image + "_" + tag + ".xz" }

// StageProgress is told how much of an image has arrived: done bytes of
// total (-1 when the server does not say).
type StageProgress func(done, total int64)

// StageImage downloads an image from an http or https image server into
// dir (IMAGE_TAG.xz, its .skein, and its .skein.sig and .meta where the
// server has them), so that `pot prepare -U file://DIR` imports it: pot
// then checks the hash and, given a key, the signature of what was
// downloaded exactly as it checks what it fetches itself. Its use is the
// progress: pot's own fetch tells nothing until it is done. progress is
// called as the image's bytes arrive. dir must exist; what StageImage
// wrote is the caller's to remove.
func StageImage(ctx context.Context, baseURL, image, tag, dir string, progress StageProgress) error {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("staging needs an http or https image server, not %q", baseURL)
	}
	name := ImageFile(image, tag)
	if strings.ContainsAny(name, "/\x00") {
		return fmt.Errorf("image file name %q", name)
	}
	base := strings.TrimSuffix(baseURL, "/") + "/"
	for _, f := range []struct {
		suffix   string
		optional bool
	}{{".skein", false}, {".skein.sig", true}, {".meta", true}} {
		if err := download(ctx, base+name+f.suffix, filepath.Join(dir, name+f.suffix), nil); err != nil {
			if f.optional && errors.Is(err, errNotOnServer) {
				continue
			}
			return err
		}
	}
	return download(ctx, base+name, filepath.Join(dir, name), progress)
}

// errNotOnServer: the server answered 404.
var errNotOnServer = errors.New("not on the image server")

// download writes url to dest (through a temporary file, renamed when
// complete), calling progress as bytes arrive.
func download(ctx context.Context, rawURL, dest string, progress StageProgress) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("fetching %s: %w", rawURL, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return fmt.Errorf("fetching %s: %w", rawURL, errNotOnServer)
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("fetching %s: %s", rawURL, resp.Status)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dest), ".staging-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	var w io.Writer = tmp
	if progress != nil {
		w = &progressWriter{w: tmp, total: resp.ContentLength, progress: progress}
		progress(0, resp.ContentLength)
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		tmp.Close()
		return fmt.Errorf("fetching %s: %w", rawURL, err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dest)
}

type progressWriter struct {
	w           io.Writer
	done, total int64
	progress    StageProgress
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.done += int64(n)
	p.progress(p.done, p.total)
	return n, err
}
