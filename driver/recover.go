package driver

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/nomad/plugins/drivers"
)

// RecoverTask reattaches to a task's running pot from the driver state
// alone (the task's driver config is not available after a client
// restart). A pot that is gone is an error, so Nomad restarts the task.
// Calling it for a task the driver already has is harmless.
func (d *Driver) RecoverTask(handle *drivers.TaskHandle) error {
	if handle == nil {
		return fmt.Errorf("recover: no task handle")
	}
	if handle.Config != nil {
		if _, ok := d.tasks.get(handle.Config.ID); ok {
			return nil
		}
	}
	var state TaskState
	if err := handle.GetDriverState(&state); err != nil {
		return fmt.Errorf("recover: decoding the driver state: %w", err)
	}
	if state.TaskConfig == nil || state.PotName == "" || state.Pid <= 0 {
		return fmt.Errorf("recover: the driver state is incomplete")
	}
	if _, ok := d.tasks.get(state.TaskConfig.ID); ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(d.ctx, time.Minute)
	defer cancel()
	proc, err := d.potClient().Attach(ctx, state.PotName, state.Pid)
	if err != nil {
		return fmt.Errorf("recover: task %s: %w", state.TaskConfig.ID, err)
	}
	state.limits = d.limitsFromState(&state)
	h := newTaskHandle(&state, proc, d.logger, d.handleHooks())
	if !d.tasks.add(h) {
		return nil
	}
	d.registerInConsul(h)
	h.logger.Info("recovered pot", "pid", state.Pid)
	return nil
}
