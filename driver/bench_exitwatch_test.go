package driver

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The moment a `pot start` process exits is taken by a helper process (this
// test binary again), so that it is not delayed by the scheduling of the
// very goroutines being measured: with 2 CPUs, a watcher in this process
// waits for a P the driver is using. One helper serves the whole run:
// it reads "PID" lines and answers "ok PID" once it watches the process
// (or "err PID MESSAGE"), then "exit PID UNIXNANO" when it has exited.

const exitWatcherEnv = "POT_BENCH_EXIT_WATCHER"

func init() {
	if os.Getenv(exitWatcherEnv) == "1" {
		runExitWatcher(os.Stdin, os.Stdout)
		os.Exit(0)
	}
}

func runExitWatcher(in io.Reader, out io.Writer) {
	var mu sync.Mutex
	say := func(format string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(out, format+"\n", a...)
	}
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		pid, err := strconv.Atoi(strings.TrimSpace(sc.Text()))
		if err != nil {
			continue
		}
		ch, err := watchExit(pid)
		if err != nil {
			say("err %d %s", pid, strings.ReplaceAll(err.Error(), "\n", " "))
			continue
		}
		say("ok %d", pid)
		go func() { say("exit %d %d", pid, (<-ch).UnixNano()) }()
	}
}

// exitWatcher is the client side of the helper.
type exitWatcher struct {
	cmd *exec.Cmd
	in  io.WriteCloser

	mu      sync.Mutex
	ready   map[int]chan error
	exited  map[int]chan time.Time
	readErr error
}

func startExitWatcher() (*exitWatcher, error) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), exitWatcherEnv+"=1")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the exit watcher: %w", err)
	}
	w := &exitWatcher{cmd: cmd, in: in, ready: map[int]chan error{}, exited: map[int]chan time.Time{}}
	go w.read(out)
	return w, nil
}

func (w *exitWatcher) read(out io.Reader) {
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), " ", 3)
		if len(f) < 2 {
			continue
		}
		pid, _ := strconv.Atoi(f[1])
		w.mu.Lock()
		switch f[0] {
		case "ok", "err":
			if ch := w.ready[pid]; ch != nil {
				delete(w.ready, pid)
				if f[0] == "ok" {
					ch <- nil
				} else {
					ch <- fmt.Errorf("watching process %d: %s", pid, strings.Join(f[2:], " "))
				}
			}
		case "exit":
			if ch := w.exited[pid]; ch != nil && len(f) == 3 {
				delete(w.exited, pid)
				ns, _ := strconv.ParseInt(f[2], 10, 64)
				ch <- time.Unix(0, ns)
			}
		}
		w.mu.Unlock()
	}
}

// watch returns when the helper watches pid; the channel gets the moment
// pid exits.
func (w *exitWatcher) watch(pid int) (<-chan time.Time, error) {
	ready, exited := make(chan error, 1), make(chan time.Time, 1)
	w.mu.Lock()
	w.ready[pid], w.exited[pid] = ready, exited
	w.mu.Unlock()
	if _, err := fmt.Fprintf(w.in, "%d\n", pid); err != nil {
		return nil, fmt.Errorf("exit watcher: %w", err)
	}
	select {
	case err := <-ready:
		if err != nil {
			return nil, err
		}
		return exited, nil
	case <-time.After(10 * time.Second):
		return nil, fmt.Errorf("exit watcher: no answer for process %d", pid)
	}
}

func (w *exitWatcher) close() {
	_ = w.in.Close()
	_ = w.cmd.Wait()
}
