package driver

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/nomad/plugins/drivers"

	"github.com/bsdpot/nomad-pot-driver/pot"
)

// WaitTask sends the task's exit result once it has exited — at once if it
// already has — then closes the channel. Every call gets exactly one
// non-nil result, unless ctx ends first.
func (d *Driver) WaitTask(ctx context.Context, taskID string) (<-chan *drivers.ExitResult, error) {
	h, ok := d.tasks.get(taskID)
	if !ok {
		return nil, errTaskNotFound(taskID)
	}
	ch := make(chan *drivers.ExitResult, 1)
	go func() {
		defer close(ch)
		select {
		case <-h.done:
		case <-ctx.Done():
			return
		case <-d.ctx.Done():
			return
		}
		res := h.result()
		select {
		case ch <- res:
		case <-ctx.Done():
		case <-d.ctx.Done():
		}
	}()
	return ch, nil
}

// stopSlack is what a pot stop is allowed beyond the grace it gives the
// jail's processes (the pot's stop grace), and what pot start is allowed to
// return after it. The driver stops a jail gracefully only when the stop
// signal could not be delivered, with the grace set to what is left of
// the kill_timeout; everywhere else it kills (stopJail with kill). The
// pot's stop grace is otherwise the job's attribute or pot's default
// (10 s): it applies to pot start's own stop when the task's command ends
// and to an operator's pot stop.
const stopSlack = 2 * time.Second

// defaultKillSignal is sent when the task names no kill_signal. Not
// Nomad's usual SIGINT: pot runs the jail's command as a background job
// of a non-interactive sh, which starts it with SIGINT ignored, so a shell
// task could never see it (the docker driver defaults to SIGTERM too).
const defaultKillSignal = "SIGTERM"

// StopTask sends the signal (defaultKillSignal if none) to the task's main
// process and, if the task has not exited within timeout of the call (its
// kill_timeout), kills the jail: Nomad's kill_timeout is the time before
// a force kill, so what follows it is not another polite request.
func (d *Driver) StopTask(taskID string, timeout time.Duration, signal string) error {
	deadline := time.Now().Add(timeout)
	h, ok := d.tasks.get(taskID)
	if !ok {
		return errTaskNotFound(taskID)
	}
	if h.exited() {
		return nil
	}
	h.stopRequested.Store(true)
	// Out of Consul before the signal, so no new traffic reaches a task
	// that is shutting down.
	d.deregisterFromConsul(h)
	if signal == "" {
		signal = defaultKillSignal
	}
	sig, err := pot.SignalName(signal)
	if err != nil {
		return err
	}
	client := d.potClient()
	ctx, cancel := context.WithTimeout(d.ctx, 30*time.Second)
	// Not Force: pot's -f would drop the signal of a task in its first
	// half second (pot start has not written the main pid yet); the
	// client waits that out and delivers it, or says why it could not.
	err = client.Signal(ctx, h.potName, pot.SignalOptions{Signal: sig})
	cancel()
	if err != nil {
		// The jail is stopped instead (SIGTERM to its processes), killed
		// at the deadline: the grace is what is left of it.
		h.logger.Warn("sending the stop signal failed; stopping the jail", "signal", sig, "error", err)
		if left := time.Until(deadline).Truncate(time.Second); left >= 0 {
			ctx, cancel := context.WithTimeout(d.ctx, 30*time.Second)
			if err := client.SetStopGrace(ctx, h.potName, left); err != nil {
				h.logger.Warn("setting the stop grace failed; the pot's own applies", "error", err)
			}
			cancel()
		}
		return d.stopJail(h, false)
	}
	// From here the task has its signal: what follows kill_timeout is a
	// kill, so the jail's stop grace goes now, while the task has its
	// time, and pot stop then removes the jail at once. Bounded by the
	// deadline; if it does not make it, the kill sets it itself.
	graceGone := false
	if left := time.Until(deadline); left > 0 {
		ctx, cancel := context.WithTimeout(d.ctx, left)
		graceGone = client.SetStopGrace(ctx, h.potName, 0) == nil
		cancel()
	}
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case <-h.done:
		return nil
	case <-timer.C:
	}
	// With the grace gone a plain pot stop is the kill.
	return d.stopJail(h, !graceGone)
}

// stopAttempts bounds the retries of pot stop in stopJail.
const stopAttempts = 6

// stopJail stops the task's jail (`pot stop`: SIGTERM, then SIGKILL after
// the pot's stop grace, pot.Client.SetStopGrace) or, with kill, removes it at once (pot.Client.Kill),
// and returns once pot start has returned: the task's exit is known, though
// pot stop may still be cleaning up (see taskHandle.stop). A task gets
// one stop; a second call waits for the first.
func (d *Driver) stopJail(h *taskHandle, kill bool) error {
	if h.exited() {
		return nil
	}
	h.stopRequested.Store(true)
	r := h.beginStop(func() error { return d.runStop(h, kill) })
	select {
	case <-h.done:
		return nil
	case <-r.done:
	}
	if r.err != nil && !h.exited() {
		return r.err
	}
	select {
	case <-h.done:
		return nil
	case <-time.After(stopSlack + 10*time.Second):
	}
	// The jail is stopped but pot start has not returned: end it so the
	// task's exit is reported.
	h.logger.Warn("pot start did not return after pot stop; killing it")
	_ = h.proc.Kill()
	select {
	case <-h.done:
		return nil
	case <-time.After(5 * time.Second):
		return fmt.Errorf("pot %s: pot start process %d did not exit", h.potName, h.proc.Pid())
	}
}

// runStop is a task's pot stop (or kill), retried while pot start has not
// returned.
func (d *Driver) runStop(h *taskHandle, kill bool) error {
	ctx, cancel := context.WithTimeout(d.ctx, stopSlack+time.Minute)
	defer cancel()
	client := d.potClient()
	stop := client.Stop
	if kill {
		stop = client.Kill
	}
	// The pot client waits out pot start's starting window; what is left
	// to retry here is a jail that is already gone while its pot start
	// has not returned yet (pot stop refuses a pot that does not run):
	// retry until it returns.
	for attempt := 1; ; attempt++ {
		err := stop(ctx, h.potName)
		if err == nil || h.exited() {
			return nil
		}
		if attempt == stopAttempts {
			return fmt.Errorf("stopping pot %s: %w", h.potName, err)
		}
		select {
		case <-h.done:
			return nil
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// abortStart ends a pot start whose jail never showed (killed, with its
// process group) and waits for it to be reaped. A pot left in `starting` by
// the kill is for the forced destroy that follows (set-status, then
// destroy).
func (d *Driver) abortStart(h *taskHandle) {
	h.stopRequested.Store(true)
	_ = h.proc.KillGroup()
	select {
	case <-h.done:
	case <-time.After(10 * time.Second):
		h.logger.Error("pot start did not exit after it was killed", "pid", h.proc.Pid())
	}
}

// DestroyTask removes the task's pot and forgets the task. A running task
// is refused unless force, which stops it first. A second call is harmless.
func (d *Driver) DestroyTask(taskID string, force bool) error {
	h, ok := d.tasks.get(taskID)
	if !ok {
		return d.destroyPotsOfTask(taskID)
	}
	if !h.exited() {
		if !force {
			return errTaskRunning
		}
		// Nomad forces a destroy when it gave up stopping the task.
		if err := d.stopJail(h, true); err != nil {
			return err
		}
	}
	// A stop whose task has exited may still be cleaning up the pot.
	h.waitStopped()
	d.deregisterFromConsul(h)
	d.removeLimits(h.limits)
	if err := d.destroyPot(h.potName); err != nil {
		return err
	}
	d.tasks.remove(taskID)
	return nil
}

// destroyPotsOfTask destroys the pot of a task the driver does not hold —
// one whose jail ended while the agent was down (RecoverTask failed, so
// Nomad destroys it) or that a plugin lost — now, not at the orphan sweep
// minutes later. Its name ends as the task ID says (or is the bsdpot
// driver's name for the task); a pot a task or start of the driver owns is
// left alone.
func (d *Driver) destroyPotsOfTask(taskID string) error {
	end := potNameEnd(taskID)
	// A task the bsdpot driver started has that driver's pot name.
	legacy, _ := bsdpotPotName(taskID)
	if end == "" && legacy == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(d.ctx, 2*time.Minute)
	defer cancel()
	names, err := d.potClient().List(ctx)
	if err != nil {
		return fmt.Errorf("listing pots for task %s: %w", taskID, err)
	}
	var errs []error
	for _, name := range names {
		ours := end != "" && strings.HasSuffix(name, end) && driverPotName.MatchString(name)
		if !(ours || name == legacy) || d.ownsPot(name) {
			continue
		}
		d.logger.Info("destroying the pot of a task the driver does not hold", "task_id", taskID, "pot", name)
		if err := d.destroyPot(name); err != nil {
			errs = append(errs, err)
			continue
		}
		d.removeOrphanLimits(ctx, name)
	}
	return errors.Join(errs...)
}

// destroyPot destroys a pot; one that is already gone is fine.
func (d *Driver) destroyPot(name string) error {
	ctx, cancel := context.WithTimeout(d.ctx, 2*time.Minute)
	defer cancel()
	if err := d.potClient().Remove(ctx, name); err != nil {
		return fmt.Errorf("destroying pot %s: %w", name, err)
	}
	return nil
}

// InspectTask returns the task's status.
func (d *Driver) InspectTask(taskID string) (*drivers.TaskStatus, error) {
	h, ok := d.tasks.get(taskID)
	if !ok {
		return nil, errTaskNotFound(taskID)
	}
	return h.status(), nil
}

// SignalTask sends a signal, named as Nomad names it ("SIGHUP"), to the
// task's main process.
func (d *Driver) SignalTask(taskID string, signal string) error {
	h, ok := d.tasks.get(taskID)
	if !ok {
		return errTaskNotFound(taskID)
	}
	sig, err := pot.SignalName(signal)
	if err != nil {
		return err
	}
	if h.exited() {
		return fmt.Errorf("task %s has exited", taskID)
	}
	ctx, cancel := context.WithTimeout(d.ctx, 30*time.Second)
	defer cancel()
	return d.potClient().Signal(ctx, h.potName, pot.SignalOptions{Signal: sig})
}
