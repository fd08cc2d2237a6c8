package pot

import "testing"

// SignalName takes Nomad's names in any case, with or without SIG, and
// refuses what FreeBSD's kill does not know.
func TestSignalName(t *testing.T) {
	for in, want := range map[string]string{"SIGTERM": "TERM", "sigint": "INT", "HUP": "HUP", "SIGUSR1": "USR1", "SIGIOT": "ABRT"} {
		got, err := SignalName(in)
		if err != nil || got != want {
			t.Errorf("%s: %q %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "SIG", "SIGFOO", "TERM;reboot", "-9"} {
		if _, err := SignalName(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
