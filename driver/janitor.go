package driver

import (
	"context"
	"regexp"
	"sort"
	"sync"
	"time"

	"github.com/bsdpot/nomad-pot-driver/freebsd"
	"github.com/bsdpot/nomad-pot-driver/hclspec"
)

// The janitor removes what the driver left behind: pots of tasks Nomad no
// longer has (after a crash, a failed start, a lost client state) and, when
// the plugin config sets a budget, images the driver imported that no pot
// uses. It runs every orphan_sweep_period (every minute when the orphan
// sweep is off) and never touches a pot the driver did not make:
//
//   - task pots are recognised by the name potNameParts gives them,
//     JOB_TASK_ALLOCUUID_8HEX (driverPotName); image pots by the mark the
//     driver put on them when its prepare imported them (imageStore);
//   - a task pot is an orphan when no task of the driver (running, exited or
//     starting) owns it; it is destroyed once it has been an orphan for
//     orphan_grace, so RecoverTask calls after a restart come first;
//   - an image is pruned only when no pot at all (the driver's or anyone's)
//     was cloned from it and no start of the driver is using it.

// driverPotName matches the names potNameParts gives pots: JOB_TASK (two
// sanitised parts of at most 24 characters each), the alloc's UUID and the
// 8 hex digits that end Nomad's task ID.
var driverPotName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,24}_[A-Za-z0-9_-]{1,24}_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}_[0-9a-f]{8}$`)

// janitorState is the janitor's memory between passes.
type janitorState struct {
	// pass serialises janitor passes.
	pass sync.Mutex
	// orphanSince is when each orphan was first seen.
	orphanSince map[string]time.Time
}

// inFlight is what starts under way are using: their pot names (not yet in
// the task store) and their images.
type inFlight struct {
	mu     sync.Mutex
	pots   map[string]int
	images map[string]int
	// prune is held while an image is destroyed, so no start begins to
	// use it meanwhile.
	prune sync.Mutex
}

// beginStart records a start of pot potName from image until the returned
// function is called (after the task is in the task store, or the start
// failed and its pot was removed). ok is false, and nothing recorded, when
// a start of that pot is under way already: the pot's name comes from the
// task ID, so that is a second StartTask of the same task, which must not
// touch the first one's pot.
func (d *Driver) beginStart(potName, image string) (end func(), ok bool) {
	d.flight.prune.Lock() // an image being pruned is gone before we use it
	d.flight.mu.Lock()
	if d.flight.pots[potName] > 0 {
		d.flight.mu.Unlock()
		d.flight.prune.Unlock()
		return func() {}, false
	}
	d.flight.pots[potName]++
	d.flight.images[image]++
	d.flight.mu.Unlock()
	d.flight.prune.Unlock()
	return func() {
		d.flight.mu.Lock()
		defer d.flight.mu.Unlock()
		if d.flight.pots[potName]--; d.flight.pots[potName] <= 0 {
			delete(d.flight.pots, potName)
		}
		if d.flight.images[image]--; d.flight.images[image] <= 0 {
			delete(d.flight.images, image)
		}
	}, true
}

// ownsPot says whether a start under way or a task of the driver owns the
// pot. Starts are looked at first: a start leaves them only once its task
// is in the store.
func (d *Driver) ownsPot(name string) bool {
	d.flight.mu.Lock()
	starting := d.flight.pots[name] > 0
	d.flight.mu.Unlock()
	return starting || d.tasks.hasPot(name)
}

// usesImage says whether a start under way or a task of the driver uses the
// image.
func (d *Driver) usesImage(image string) bool {
	d.flight.mu.Lock()
	starting := d.flight.images[image] > 0
	d.flight.mu.Unlock()
	return starting || d.tasks.hasImage(image)
}

// janitorLoop runs a janitor pass every orphan_sweep_period until the
// plugin shuts down. A new plugin config restarts the wait with its
// period: the loop starts in New, before Nomad's SetConfig, and the first
// pass must not wait out the default.
func (d *Driver) janitorLoop() {
	for {
		_, period := d.pluginConfig().Orphans()
		if period <= 0 {
			period = hclspec.DefaultOrphanSweepPeriod
		}
		timer := time.NewTimer(period)
		select {
		case <-d.ctx.Done():
			timer.Stop()
			return
		case <-d.configured:
			timer.Stop()
			continue
		case <-timer.C:
		}
		d.janitorPass(time.Now())
	}
}

// janitorPass sweeps orphans (unless orphan_sweep_period is 0) and prunes
// the image cache (if it has a budget). now is the pass's clock (tests move
// it on).
func (d *Driver) janitorPass(now time.Time) {
	d.janitor.pass.Lock()
	defer d.janitor.pass.Unlock()
	ctx, cancel := context.WithTimeout(d.ctx, 30*time.Minute)
	defer cancel()
	if _, period := d.pluginConfig().Orphans(); period > 0 {
		d.sweepOrphans(ctx, now)
	}
	d.pruneImages(ctx, now)
}

// sweepOrphans destroys the driver's pots no task owns once they have been
// orphans for orphan_grace, one log line each.
func (d *Driver) sweepOrphans(ctx context.Context, now time.Time) {
	grace, _ := d.pluginConfig().Orphans()
	names, err := d.potClient().List(ctx)
	if err != nil {
		d.logger.Warn("orphan sweep: listing pots failed", "error", err)
		return
	}
	if d.janitor.orphanSince == nil {
		d.janitor.orphanSince = map[string]time.Time{}
	}
	seen := map[string]bool{}
	for _, name := range names {
		if !driverPotName.MatchString(name) || d.ownsPot(name) {
			continue
		}
		seen[name] = true
		first, ok := d.janitor.orphanSince[name]
		if !ok {
			d.janitor.orphanSince[name] = now
			// Durations as strings: Nomad reads a plugin's log as
			// JSON, where a time.Duration is nanoseconds (6e+09).
			d.logger.Debug("orphan sweep: pot owned by no task; destroyed if still so after orphan_grace", "pot", name, "orphan_grace", grace.String())
			continue
		}
		if now.Sub(first) < grace || d.ownsPot(name) {
			continue
		}
		if err := d.destroyPot(name); err != nil {
			d.logger.Error("orphan sweep: destroying an orphaned pot failed; trying again next sweep", "pot", name, "error", err)
			continue
		}
		d.removeOrphanLimits(ctx, name)
		delete(d.janitor.orphanSince, name)
		d.logger.Warn("orphan sweep: destroyed a pot of this driver that no task owned", "pot", name, "orphaned_for", now.Sub(first).Round(time.Second).String())
	}
	for name := range d.janitor.orphanSince {
		if !seen[name] {
			delete(d.janitor.orphanSince, name)
		}
	}
}

// removeOrphanLimits removes the rctl rules an orphan's task may have left
// (rctl -r jail:NAME), where there is an rctl to ask.
func (d *Driver) removeOrphanLimits(ctx context.Context, name string) {
	tools := d.limitTools()
	if !freebsd.Executable(tools.RctlPath()) {
		return
	}
	if err := tools.RemoveJailRules(ctx, name); err != nil {
		d.logger.Debug("orphan sweep: removing the jail's rctl rules", "pot", name, "error", err)
	}
}

// pruneImages removes images the driver imported (marked) that no pot was
// cloned from and no start uses: those unused for image_cache_max_age, then,
// least recently used first, as many as it takes to bring the marked
// images' total size within image_cache_max_bytes. One log line each.
func (d *Driver) pruneImages(ctx context.Context, now time.Time) {
	maxBytes, maxAge := d.pluginConfig().ImageCache()
	if maxBytes <= 0 && maxAge <= 0 {
		return
	}
	store, err := d.imageStore(ctx)
	if err != nil {
		d.logger.Warn("image cache: cannot read the pots' disk use", "error", err)
		return
	}
	// Task pots are never images.
	pots, err := store.Scan(ctx, func(name string) bool { return !driverPotName.MatchString(name) })
	if err != nil {
		d.logger.Warn("image cache: cannot read the pots' disk use", "error", err)
		return
	}
	cloned := map[string]bool{}
	for _, p := range pots {
		for _, o := range p.Origins {
			cloned[o] = true
		}
	}
	type image struct {
		name string
		*potInfo
	}
	var total uint64
	var unused []image
	for name, p := range pots {
		if !p.Marked {
			continue
		}
		total += p.Size
		if !cloned[name] && !d.usesImage(name) {
			unused = append(unused, image{name, p})
		}
	}
	sort.Slice(unused, func(i, j int) bool {
		if !unused[i].LastUsed.Equal(unused[j].LastUsed) {
			return unused[i].LastUsed.Before(unused[j].LastUsed)
		}
		return unused[i].name < unused[j].name
	})
	for _, img := range unused {
		age := now.Sub(img.LastUsed)
		var why string
		switch {
		case maxAge > 0 && age >= maxAge:
			why = "unused for longer than image_cache_max_age"
		case maxBytes > 0 && total > uint64(maxBytes):
			why = "the image cache is larger than image_cache_max_bytes"
		default:
			continue
		}
		if !d.pruneImage(ctx, img.name) {
			continue
		}
		total -= img.Size
		d.logger.Info("image cache: removed an image no pot uses", "image", img.name, "reason", why,
			"bytes", img.Size, "last_used", img.LastUsed.Format(time.RFC3339), "cache_bytes", total)
	}
}

// pruneImage destroys an image pot unless a start or task of the driver
// began to use it; no start can begin to use it meanwhile.
func (d *Driver) pruneImage(ctx context.Context, name string) bool {
	d.flight.prune.Lock()
	defer d.flight.prune.Unlock()
	if d.usesImage(name) {
		return false
	}
	// Without -F: an image pot never runs; if this one does, it is not
	// ours to stop.
	if err := d.potClient().Destroy(ctx, name, false); err != nil {
		d.logger.Warn("image cache: destroying an unused image failed", "image", name, "error", err)
		return false
	}
	return true
}

// useImage notes that a start used image: the mark of an image the start
// imported is created (it is then the driver's to prune), the mark of one
// already marked is moved on when the image cache is on.
func (d *Driver) useImage(ctx context.Context, image string, imported bool) {
	maxBytes, maxAge := d.pluginConfig().ImageCache()
	if !imported && maxBytes <= 0 && maxAge <= 0 {
		return
	}
	store, err := d.imageStore(ctx)
	if err == nil {
		err = store.SetMark(ctx, image, time.Now(), imported)
	}
	if err != nil {
		d.logger.Debug("image cache: cannot mark the image's use", "image", image, "error", err)
	}
}
