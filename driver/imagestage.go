package driver

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/nomad/plugins/drivers"

	"github.com/bsdpot/nomad-pot-driver/pot"
)

// progressEvery is the least time between two download progress events of
// a task, and before the first: a fast download shows none, a slow one one
// every few seconds (Nomad keeps a task's last ten events).
const progressEvery = 5 * time.Second

// stageImage downloads the image a task's start is about to import into the
// task's folder, with progress events, and returns that folder for `pot
// prepare -U file://DIR`; pot then checks the hash (and signature) of what
// was downloaded as it checks its own fetch. "" when it does not stage: the
// image server is not http(s), the task has no folder, or the download
// failed — pot then fetches the image itself and reports what is wrong.
func (d *Driver) stageImage(ctx context.Context, cfg *drivers.TaskConfig, p *startPlan) string {
	u, err := url.Parse(p.spec.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || cfg.AllocDir == "" {
		return ""
	}
	dir := filepath.Join(cfg.TaskDir().Dir, ".pot-image")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		d.logger.Warn("cannot stage the image; pot fetches it", "task_id", cfg.ID, "error", err)
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, d.potClient().PrepareLimit())
	defer cancel()
	last := time.Now()
	progress := func(done, total int64) {
		if now := time.Now(); now.Sub(last) >= progressEvery {
			last = now
			d.emit(cfg, downloadProgress(p.spec.Image, p.spec.Tag, done, total))
		}
	}
	if err := pot.StageImage(ctx, p.spec.URL, p.spec.Image, p.spec.Tag, dir, progress); err != nil {
		os.RemoveAll(dir)
		d.logger.Warn("downloading the image failed; pot fetches it", "task_id", cfg.ID, "error", err)
		return ""
	}
	return dir
}

// downloadProgress is the text of a progress event.
func downloadProgress(image, tag string, done, total int64) string {
	if total <= 0 {
		return fmt.Sprintf("Downloading image %s tag %s: %s so far", image, tag, byteSize(done))
	}
	return fmt.Sprintf("Downloading image %s tag %s: %s of %s (%d%%)", image, tag, byteSize(done), byteSize(total), done*100/total)
}

// byteSize is n in B, KiB, MiB or GiB, one decimal.
func byteSize(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	case n < 1<<30:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
}

// lockImport waits until no other start imports image, and returns the
// function that lets the next one go (once; later calls do nothing).
func (d *Driver) lockImport(image string) (unlock func()) {
	d.importsMu.Lock()
	if d.imports == nil {
		d.imports = map[string]*sync.Mutex{}
	}
	mu, ok := d.imports[image]
	if !ok {
		mu = &sync.Mutex{}
		d.imports[image] = mu
	}
	d.importsMu.Unlock()
	mu.Lock()
	var once sync.Once
	return func() { once.Do(mu.Unlock) }
}
