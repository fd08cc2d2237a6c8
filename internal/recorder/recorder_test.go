package recorder

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestRunRecordsAndAnswers(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "calls.jsonl")
	script := filepath.Join(dir, "answers.json")
	if err := os.WriteFile(script, []byte(`[
		{"tool":"rctl","args":["-r"],"exit":1,"stderr":"rctl: rctl_remove_rule: No such process\n"},
		{"tool":"rctl","args":["-u"],"stdout":"memoryuse=1\n"}
	]`), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvLog, log)
	t.Setenv(EnvScript, script)

	for _, c := range []struct {
		tool string
		args []string
		want Answer
	}{
		{"rctl", []string{"-a", "jail:x:maxproc:deny=1"}, Answer{}},
		{"rctl", []string{"-r", "jail:x"}, Answer{Tool: "rctl", Args: []string{"-r"}, Exit: 1, Stderr: "rctl: rctl_remove_rule: No such process\n"}},
		{"rctl", []string{"-u", "jail:x"}, Answer{Tool: "rctl", Args: []string{"-u"}, Stdout: "memoryuse=1\n"}},
		{"cpuset", []string{"-r"}, Answer{}},
		{"cpuset", nil, Answer{}},
	} {
		got, err := Run(c.tool, c.args)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s %q: %+v %v", c.tool, c.args, got, err)
		}
	}
	calls, err := Read(log)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, c := range calls {
		lines = append(lines, c.Line())
	}
	want := []string{"rctl -a jail:x:maxproc:deny=1", "rctl -r jail:x", "rctl -u jail:x", "cpuset -r", "cpuset"}
	if !reflect.DeepEqual(lines, want) {
		t.Fatalf("calls %q", lines)
	}
	if calls[4].Args == nil || calls[0].Time.IsZero() {
		t.Fatalf("call %+v", calls[4])
	}
	if none, err := Read(filepath.Join(dir, "missing")); err != nil || none != nil {
		t.Fatalf("missing log: %v %v", none, err)
	}
}
