package driver

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	"github.com/hashicorp/nomad/plugins/drivers"

	"github.com/bsdpot/nomad-pot-driver/consul"
	"github.com/bsdpot/nomad-pot-driver/pot"
)

// taskHandle is one running (or exited, not yet destroyed) task.
type taskHandle struct {
	id        string
	cfg       *drivers.TaskConfig
	potName   string
	image     string
	proc      *pot.Process
	startedAt time.Time
	network   *drivers.DriverNetwork
	consul    *consul.Service
	logger    hclog.Logger
	// hooks are the driver's part in the task's exit.
	hooks handleHooks
	// limits are the jail's resource limits (nil: none); stopRequested is
	// set once the driver starts stopping the task (for OOM attribution).
	limits        *taskLimits
	stopRequested atomic.Bool

	// stop is the task's pot stop (or kill), once one has begun (see
	// beginStop). StopTask returns once the task has exited, which may be
	// before pot stop has finished its cleanup (pot start returns as soon
	// as the jail is gone): DestroyTask waits for it before it destroys
	// the pot.
	stopMu sync.Mutex
	stop   *stopRun

	// done is closed once exitResult and completedAt are set.
	done        chan struct{}
	mu          sync.Mutex
	exitResult  *drivers.ExitResult
	completedAt time.Time
}

// handleHooks are what the driver does when a task exits: explain runs
// before the exit result is known to Nomad (an event then comes before
// the restart policy acts), exited after.
type handleHooks struct {
	explain func(*taskHandle, *drivers.ExitResult)
	exited  func(*taskHandle)
}

func newTaskHandle(st *TaskState, proc *pot.Process, logger hclog.Logger, hooks handleHooks) *taskHandle {
	h := &taskHandle{
		id:        st.TaskConfig.ID,
		cfg:       st.TaskConfig,
		potName:   st.PotName,
		image:     st.Image,
		proc:      proc,
		startedAt: st.StartedAt,
		network:   st.Network,
		consul:    st.Consul,
		logger:    logger.With("task_id", st.TaskConfig.ID, "pot", st.PotName),
		done:      make(chan struct{}),
		hooks:     hooks,
		limits:    st.limits,
	}
	go h.watch()
	return h
}

// watch turns the end of `pot start` into the task's ExitResult, the moment
// it happens.
func (h *taskHandle) watch() {
	st, err := h.proc.Result()
	res := &drivers.ExitResult{ExitCode: st.Code, Signal: st.Signal, Err: err}
	if err != nil && res.ExitCode == 0 {
		res.ExitCode = -1
	}
	res.OOMKilled = h.limits.oomKilled(res, h.stopRequested.Load())
	h.logger.Debug("pot exited", "exit_code", res.ExitCode, "signal", res.Signal, "error", err)
	if h.hooks.explain != nil {
		h.hooks.explain(h, res)
	}
	h.mu.Lock()
	h.exitResult = res
	h.completedAt = time.Now()
	h.mu.Unlock()
	close(h.done)
	if h.hooks.exited != nil {
		h.hooks.exited(h)
	}
}

func (h *taskHandle) exited() bool {
	select {
	case <-h.done:
		return true
	default:
		return false
	}
}

// result returns a copy of the exit result, nil while the task runs.
func (h *taskHandle) result() *drivers.ExitResult {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.exitResult == nil {
		return nil
	}
	return h.exitResult.Copy()
}

func (h *taskHandle) status() *drivers.TaskStatus {
	h.mu.Lock()
	defer h.mu.Unlock()
	st := &drivers.TaskStatus{
		ID:        h.id,
		Name:      h.cfg.Name,
		State:     drivers.TaskStateRunning,
		StartedAt: h.startedAt,
		DriverAttributes: map[string]string{
			"pot_name": h.potName,
			"pid":      strconv.Itoa(h.proc.Pid()),
		},
		NetworkOverride: h.network,
	}
	if h.exitResult != nil {
		st.State = drivers.TaskStateExited
		st.CompletedAt = h.completedAt
		st.ExitResult = h.exitResult.Copy()
	}
	return st
}

// taskStore holds the driver's tasks by ID.
type taskStore struct {
	mu    sync.RWMutex
	tasks map[string]*taskHandle
}

func newTaskStore() *taskStore { return &taskStore{tasks: map[string]*taskHandle{}} }

func (s *taskStore) get(id string) (*taskHandle, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	h, ok := s.tasks[id]
	return h, ok
}

// add stores h unless a task with its ID is there already.
func (s *taskStore) add(h *taskHandle) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tasks[h.id]; ok {
		return false
	}
	s.tasks[h.id] = h
	return true
}

// all returns the tasks in the store.
func (s *taskStore) all() []*taskHandle {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*taskHandle, 0, len(s.tasks))
	for _, h := range s.tasks {
		out = append(out, h)
	}
	return out
}

// hasPot says whether a task's pot is name.
func (s *taskStore) hasPot(name string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, h := range s.tasks {
		if h.potName == name {
			return true
		}
	}
	return false
}

// hasImage says whether a task's pot was cloned from image.
func (s *taskStore) hasImage(image string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, h := range s.tasks {
		if h.image == image {
			return true
		}
	}
	return false
}

func (s *taskStore) remove(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tasks, id)
}

// stopRun is one pot stop of a task: done is closed when it has returned,
// err set before that.
type stopRun struct {
	done chan struct{}
	err  error
}

// beginStop starts run as the task's stop, unless one is under way or has
// succeeded (that one is returned): a task is stopped once, and a second
// StopTask or DestroyTask waits for the first stop rather than running
// pot stop again. A stop that failed may be tried again.
func (h *taskHandle) beginStop(run func() error) *stopRun {
	h.stopMu.Lock()
	defer h.stopMu.Unlock()
	if r := h.stop; r != nil {
		select {
		case <-r.done:
			if r.err == nil {
				return r
			}
		default:
			return r
		}
	}
	r := &stopRun{done: make(chan struct{})}
	h.stop = r
	go func() {
		defer close(r.done)
		r.err = run()
	}()
	return r
}

// waitStopped waits for the task's stop, if one has begun, to return.
func (h *taskHandle) waitStopped() {
	h.stopMu.Lock()
	r := h.stop
	h.stopMu.Unlock()
	if r != nil {
		<-r.done
	}
}
