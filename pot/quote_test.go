package pot

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
	"unicode/utf8"
)

// shellArgv quotes printf's argv with CommandLine, runs it as `exec CMD`
// through /bin/sh the way pot's start script does, and returns the
// arguments the process received.
func shellArgv(t testing.TB, args ...string) []string {
	t.Helper()
	line, err := CommandLine(append([]string{"printf", `%s\000`}, args...))
	if err != nil {
		t.Fatalf("CommandLine(%q): %v", args, err)
	}
	out, err := exec.Command("/bin/sh", "-c", "exec "+line).Output()
	if err != nil {
		t.Fatalf("sh -c exec %s: %v", line, err)
	}
	parts := strings.Split(string(out), "\x00")
	return parts[:len(parts)-1]
}

// shellEnv runs `export "VAR=VALUE"` through /bin/sh the way pot's start
// script does and returns what the process sees.
func shellEnv(t testing.TB, assignment string) string {
	t.Helper()
	// pot stores pot.env="VAR=VALUE" escaping `"` only.
	stored := strings.ReplaceAll(assignment, `"`, `\"`)
	out, err := exec.Command("/bin/sh", "-c", `export "`+stored+`"; printf '%s' "$V"`).Output()
	if err != nil {
		t.Fatalf("sh export %s: %v", stored, err)
	}
	return string(out)
}

var hostileValues = []string{
	"", "plain", "two words", "daemon off;", "$(touch /tmp/pwned)", "`id`", "a;b", "a && b",
	"'", `"`, `'\''`, `\`, `\\n`, "$HOME", "${HOME}", "*", "?", "[a]", "~", "#comment",
	"a|b", "<in", ">out", "tab\there", "ünïcödé", "-n", "--", "!", "$'x'", `\$`, `"$x"`,
}

func TestCommandLineReachesProcessExactly(t *testing.T) {
	for _, v := range hostileValues {
		want := []string{v, "tail"}
		if got := shellArgv(t, want...); strings.Join(got, "\x00") != strings.Join(want, "\x00") {
			t.Errorf("value %q: process got %q, want %q", v, got, want)
		}
	}
}

func TestEnvLiteralReachesProcessExactly(t *testing.T) {
	for _, v := range hostileValues {
		a, err := EnvAssignment("V", v)
		if err != nil {
			t.Fatalf("EnvAssignment(%q): %v", v, err)
		}
		if got := shellEnv(t, a); got != v {
			t.Errorf("value %q: process saw %q (assignment %s)", v, got, a)
		}
	}
}

func TestNewlinesRefused(t *testing.T) {
	for _, v := range []string{"a\nb", "a\rb", "\n", "x\n pot.cmd=evil"} {
		if _, err := CommandLine([]string{"/bin/sh", v}); !errors.Is(err, ErrNewline) {
			t.Errorf("CommandLine with %q: err %v, want ErrNewline", v, err)
		}
		if _, err := EnvAssignment("V", v); !errors.Is(err, ErrNewline) {
			t.Errorf("EnvAssignment with %q: err %v, want ErrNewline", v, err)
		}
	}
	if _, err := CommandLine(nil); err == nil {
		t.Error("empty argv accepted")
	}
}

func TestEnvNames(t *testing.T) {
	for name, ok := range map[string]bool{
		"A": true, "_a1": true, "NOMAD_TASK_DIR": true, "": false, "1A": false, "A-B": false, "A=B": false, "A B": false,
	} {
		if IsEnvName(name) != ok {
			t.Errorf("IsEnvName(%q) = %v", name, !ok)
		}
		if _, err := EnvAssignment(name, "v"); (err == nil) != ok {
			t.Errorf("EnvAssignment(%q): %v", name, err)
		}
	}
}

func FuzzCommandLine(f *testing.F) {
	for _, v := range hostileValues {
		f.Add(v, "x")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		line, err := CommandLine([]string{a, b})
		if err != nil {
			if !strings.ContainsAny(a+b, "\n\r\x00") && a != "" {
				t.Fatalf("refused %q %q: %v", a, b, err)
			}
			return
		}
		if strings.ContainsAny(line, "\n\r") {
			t.Fatalf("line with a newline: %q", line)
		}
		if !utf8.ValidString(a + b) {
			return
		}
		got := shellArgv(t, a, b)
		if len(got) != 2 || got[0] != a || got[1] != b {
			t.Fatalf("argv %q %q came out as %q", a, b, got)
		}
	})
}

func FuzzEnvLiteral(f *testing.F) {
	for _, v := range hostileValues {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v string) {
		a, err := EnvAssignment("V", v)
		if err != nil {
			if !strings.ContainsAny(v, "\n\r\x00") {
				t.Fatalf("refused %q: %v", v, err)
			}
			return
		}
		if !utf8.ValidString(v) {
			return
		}
		if got := shellEnv(t, a); got != v {
			t.Fatalf("value %q came out as %q", v, got)
		}
	})
}
