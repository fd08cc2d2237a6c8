package driver

import (
	"time"

	"github.com/hashicorp/nomad/plugins/drivers"

	"github.com/bsdpot/nomad-pot-driver/consul"
)

// taskHandleVersion is the version of TaskState in the handle (the bsdpot
// driver 0.10's is bsdpotHandleVersion, recover.go).
const taskHandleVersion = 1

// TaskState is the driver state Nomad keeps for a task (msgpack). After a
// client restart the task's driver config is gone, so everything recovery
// and cleanup need is here.
type TaskState struct {
	TaskConfig *drivers.TaskConfig `codec:"task_config"`
	PotName    string              `codec:"pot_name"`
	// Image is the image pot the task's pot was cloned from (IMAGE_TAG);
	// empty in states saved by older versions.
	Image     string                 `codec:"image"`
	Pid       int                    `codec:"pid"`
	StartedAt time.Time              `codec:"started_at"`
	Network   *drivers.DriverNetwork `codec:"network"`
	// Consul is the driver's own registration of the pot, if asked for.
	Consul *consul.Service `codec:"consul"`
	// Limits are the rctl rules and cores applied to the jail, if any.
	Limits *LimitsState `codec:"limits"`

	// limits is the live form of Limits handed to newTaskHandle (not
	// saved: unexported).
	limits *taskLimits
}

// LimitsState is the part of TaskState recovery and cleanup need.
type LimitsState struct {
	Rules           []string `codec:"rules"`
	Cpus            string   `codec:"cpus"`
	JID             int      `codec:"jid"`
	OOMBaseline     int      `codec:"oom_baseline"`
	HardMemoryBytes uint64   `codec:"hard_memory_bytes"`
}
