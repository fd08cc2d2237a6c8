// Package recorder is a recording stand-in for command line tools the
// driver runs on FreeBSD (rctl, cpuset): installed under a tool's name (a
// copy or symbolic link of the binary built from ./cmd/recorder), it
// appends its invocation to a log and answers from a script, so tests and
// the Linux simulator can check the exact argv the driver issues.
//
// Environment:
//
//	NOMAD_POT_RECORDER_LOG     file to append one JSON line per call to:
//	                           {"tool":"rctl","args":["-a","jail:x:..."],"time":"..."}
//	NOMAD_POT_RECORDER_SCRIPT  optional JSON file: a list of answers, the
//	                           first whose tool and args prefix match wins:
//	                           [{"tool":"rctl","args":["-r"],"exit":1,
//	                             "stderr":"rctl: rctl_remove_rule: No such process\n"}]
//
// Without a matching answer the tool prints nothing and exits 0.
package recorder

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Environment variables the stand-in reads.
const (
	EnvLog    = "NOMAD_POT_RECORDER_LOG"
	EnvScript = "NOMAD_POT_RECORDER_SCRIPT"
)

// Call is one recorded invocation.
type Call struct {
	Tool string    `json:"tool"` // base name the stand-in was run as
	Args []string  `json:"args"` // argv after the program
	Time time.Time `json:"time"`
}

// Line is the call as a command line, for messages: "rctl -r jail:x".
func (c Call) Line() string { return strings.TrimSpace(c.Tool + " " + strings.Join(c.Args, " ")) }

// Answer is a scripted reply.
type Answer struct {
	Tool   string   `json:"tool"`
	Args   []string `json:"args"` // prefix of the argv to match; empty matches all
	Exit   int      `json:"exit"`
	Stdout string   `json:"stdout"`
	Stderr string   `json:"stderr"`
}

func (a Answer) matches(tool string, args []string) bool {
	if a.Tool != "" && a.Tool != tool {
		return false
	}
	if len(a.Args) > len(args) {
		return false
	}
	for i, p := range a.Args {
		if args[i] != p {
			return false
		}
	}
	return true
}

// Run records one invocation (tool name, argv after the program) and
// returns the scripted answer, or the default one (exit 0, no output).
func Run(tool string, args []string) (Answer, error) {
	if args == nil {
		args = []string{}
	}
	if path := os.Getenv(EnvLog); path != "" {
		line, err := json.Marshal(Call{Tool: tool, Args: args, Time: time.Now().UTC()})
		if err != nil {
			return Answer{}, err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return Answer{}, err
		}
		// One write per line: O_APPEND keeps concurrent callers' lines whole.
		_, werr := f.Write(append(line, '\n'))
		cerr := f.Close()
		if werr != nil {
			return Answer{}, werr
		}
		if cerr != nil {
			return Answer{}, cerr
		}
	}
	if path := os.Getenv(EnvScript); path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return Answer{}, err
		}
		var answers []Answer
		if err := json.Unmarshal(data, &answers); err != nil {
			return Answer{}, fmt.Errorf("%s: %w", path, err)
		}
		for _, a := range answers {
			if a.matches(tool, args) {
				return a, nil
			}
		}
	}
	return Answer{}, nil
}

// Main is the stand-in's main function.
func Main() {
	tool := filepath.Base(os.Args[0])
	a, err := Run(tool, os.Args[1:])
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s (recorder): %v\n", tool, err)
		os.Exit(70)
	}
	fmt.Fprint(os.Stdout, a.Stdout)
	fmt.Fprint(os.Stderr, a.Stderr)
	os.Exit(a.Exit)
}

// Read returns the calls recorded in a log, in order. A missing log is no
// calls.
func Read(path string) ([]Call, error) {
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var calls []Call
	for _, l := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(l) == "" {
			continue
		}
		var c Call
		if err := json.Unmarshal([]byte(l), &c); err != nil {
			return nil, fmt.Errorf("%s: bad line %q: %w", path, l, err)
		}
		calls = append(calls, c)
	}
	return calls, nil
}

// Install links the stand-in binary at bin into dir under each tool name
// and returns the links' paths by tool name.
func Install(bin, dir string, tools ...string) (map[string]string, error) {
	out := map[string]string{}
	for _, t := range tools {
		p := filepath.Join(dir, t)
		if err := os.Symlink(bin, p); err != nil {
			return nil, err
		}
		out[t] = p
	}
	return out, nil
}
