package driver

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/nomad/plugins/drivers"
	pstructs "github.com/hashicorp/nomad/plugins/shared/structs"

	"github.com/bsdpot/nomad-pot-driver/hclspec"
	"github.com/bsdpot/nomad-pot-driver/pot"
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
	if handle.Version == bsdpotHandleVersion {
		st, err := bsdpotState(handle)
		if err != nil {
			return err
		}
		state = *st
	} else if err := handle.GetDriverState(&state); err != nil {
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

// bsdpotHandleVersion is the task handle version of the bsdpot driver 0.10,
// which this driver replaces under the same plugin name: a client restarted
// with this driver finds its tasks' handles in Nomad's state.
const bsdpotHandleVersion = 2

// bsdpotTaskState is the bsdpot driver 0.10's driver state, field for field
// (msgpack, no tags: Nomad's codec uses the field names). PID is that
// driver's `pot start` process; ContainerName holds the image URL, not the
// pot's name; ReattachConfig is never set.
type bsdpotTaskState struct {
	ReattachConfig *pstructs.ReattachConfig
	TaskConfig     *drivers.TaskConfig
	StartedAt      time.Time
	ContainerName  string
	PID            int
}

// bsdpotPotName is the pot name the bsdpot driver gave a task:
// TASKNAME_8HEX_ALLOCID from Nomad's task ID ALLOCID/TASKNAME/8HEX.
func bsdpotPotName(taskID string) (string, error) {
	parts := strings.Split(taskID, "/")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return "", fmt.Errorf("task ID %q is not ALLOC/TASK/SUFFIX", taskID)
	}
	name := parts[1] + "_" + parts[2] + "_" + parts[0]
	if err := pot.CheckValue(name); err != nil {
		return "", err
	}
	return name, nil
}

// bsdpotState turns a bsdpot driver 0.10 handle into this driver's state:
// its pot is named from the task ID, its image from the task's own config,
// its pid is that driver's `pot start`, which Attach follows as it follows
// our own after a restart. Whatever is missing makes recovery fail with a
// reason, and Nomad restarts the task.
func bsdpotState(handle *drivers.TaskHandle) (*TaskState, error) {
	var bs bsdpotTaskState
	if err := handle.GetDriverState(&bs); err != nil {
		return nil, fmt.Errorf("recover: decoding the bsdpot driver's state: %w", err)
	}
	cfg := bs.TaskConfig
	if cfg == nil {
		cfg = handle.Config
	}
	if cfg == nil || bs.PID <= 0 {
		return nil, fmt.Errorf("recover: the bsdpot driver's state has no task config or pot start pid")
	}
	name, err := bsdpotPotName(cfg.ID)
	if err != nil {
		return nil, fmt.Errorf("recover: the bsdpot driver's pot name: %w", err)
	}
	st := &TaskState{TaskConfig: cfg, PotName: name, Pid: bs.PID, StartedAt: bs.StartedAt}
	var raw hclspec.TaskConfig
	if err := cfg.DecodeDriverConfig(&raw); err == nil && raw.Pot != "" && raw.Tag != "" {
		st.Image = pot.ImageName(raw.Pot, raw.Tag)
	}
	return st, nil
}
