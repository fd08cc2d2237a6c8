package main

import (
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// potsim start is a child subreaper: the processes of the jail that lose
// their parent become its children, so it must reap every child, not only
// the jail's main process. The reaper hands the status of a child to the
// goroutine waiting for it.
type reaper struct {
	mu      sync.Mutex
	waiters map[int]chan syscall.WaitStatus
	done    map[int]syscall.WaitStatus
}

var activeReaper *reaper

func startReaper() *reaper {
	r := &reaper{waiters: map[int]chan syscall.WaitStatus{}, done: map[int]syscall.WaitStatus{}}
	activeReaper = r
	go r.loop()
	return r
}

func (r *reaper) loop() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, 0, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil || pid <= 0 {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		r.mu.Lock()
		if ch, ok := r.waiters[pid]; ok {
			ch <- ws
			delete(r.waiters, pid)
		} else {
			if len(r.done) > 4096 {
				r.done = map[int]syscall.WaitStatus{}
			}
			r.done[pid] = ws
		}
		r.mu.Unlock()
	}
}

func (r *reaper) wait(pid int) syscall.WaitStatus {
	r.mu.Lock()
	if ws, ok := r.done[pid]; ok {
		delete(r.done, pid)
		r.mu.Unlock()
		return ws
	}
	ch := make(chan syscall.WaitStatus, 1)
	r.waiters[pid] = ch
	r.mu.Unlock()
	return <-ch
}

// waitChild waits for a child started with spawnInJail/spawnHost.
func waitChild(pid int) syscall.WaitStatus {
	if activeReaper != nil {
		return activeReaper.wait(pid)
	}
	var ws syscall.WaitStatus
	for {
		_, err := syscall.Wait4(pid, &ws, 0, nil)
		if err != syscall.EINTR {
			return ws
		}
	}
}

// shellStatus is the status sh reports for a waited process: the exit
// code, or 128+signal for a process killed by a signal.
func shellStatus(ws syscall.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// lookPath finds a command along PATH of env, as execvp does.
func lookPath(file string, env []string) (string, error) {
	if strings.Contains(file, "/") {
		if _, err := os.Stat(file); err != nil {
			return "", err
		}
		return file, nil
	}
	path := ""
	for _, kv := range env {
		if strings.HasPrefix(kv, "PATH=") {
			path = kv[len("PATH="):]
		}
	}
	var firstErr error
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, file)
		st, err := os.Stat(p)
		if err != nil {
			continue
		}
		if st.IsDir() || st.Mode().Perm()&0o111 == 0 {
			if firstErr == nil {
				firstErr = syscall.EACCES
			}
			continue
		}
		return p, nil
	}
	if firstErr != nil {
		return "", firstErr
	}
	return "", syscall.ENOENT
}

// jailExecCmd is potsim's internal subcommand that execs a jail's command
// with SIGINT and SIGQUIT ignored: pot starts the command as a background
// job of its non-interactive sh (`jexec NAME /tmp/tinirc &`), which is
// started with those two signals ignored.
const jailExecCmd = "__potsim_jail_exec"

// jailExec is `potsim __potsim_jail_exec PATH ARGV...`.
func jailExec(args []string) int {
	if len(args) < 2 {
		return 1
	}
	signal.Ignore(syscall.SIGINT, syscall.SIGQUIT)
	err := syscall.Exec(args[0], args[1:], os.Environ())
	stderrf("jexec: execvp: %s: %s\n", args[1], strerror(err))
	return 1
}

// spawnInJail starts argv as a process of the jail: in a process group of
// its own, working folder dir. files are stdin, stdout, stderr (nil: the
// caller's, stdin /dev/null). background: as a background job of sh (SIGINT
// and SIGQUIT ignored).
func spawnInJail(name string, argv, env []string, dir string, files []*os.File, background bool) (int, error) {
	path, err := lookPath(argv[0], env)
	if err != nil {
		return 0, err
	}
	if background {
		self, err := os.Executable()
		if err != nil {
			return 0, err
		}
		argv = append([]string{self, jailExecCmd, path}, argv...)
		path = self
	}
	if files == nil {
		devnull, err := os.Open(os.DevNull)
		if err != nil {
			return 0, err
		}
		defer devnull.Close()
		files = []*os.File{devnull, os.Stdout, os.Stderr}
	}
	p, err := os.StartProcess(path, argv, &os.ProcAttr{
		Dir:   dir,
		Env:   env,
		Files: files,
		Sys:   &syscall.SysProcAttr{Setpgid: true},
	})
	if err != nil {
		return 0, err
	}
	return p.Pid, nil
}

// spawnHost starts a program of the host (a hook) with potsim's stdio.
func spawnHost(argv, env []string) (int, error) {
	path, err := lookPath(argv[0], env)
	if err != nil {
		return 0, err
	}
	p, err := os.StartProcess(path, argv, &os.ProcAttr{
		Env:   env,
		Files: []*os.File{os.Stdin, os.Stdout, os.Stderr},
	})
	if err != nil {
		return 0, err
	}
	return p.Pid, nil
}
