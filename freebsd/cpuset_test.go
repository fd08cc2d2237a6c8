package freebsd

import (
	"reflect"
	"testing"
)

func TestParseCPUList(t *testing.T) {
	for in, want := range map[string][]int{
		"":            nil,
		"  ":          nil,
		"0":           {0},
		"0,1":         {0, 1},
		"3,1,1":       {1, 3},
		"0-3,5":       {0, 1, 2, 3, 5},
		" 2 , 4 - 5 ": {2, 4, 5},
		"7-7":         {7},
	} {
		got, err := ParseCPUList(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("ParseCPUList(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{",", "0,", "a", "1-", "-1", "3-1", "0x1", "1;reboot", "70000", "1 2"} {
		if got, err := ParseCPUList(bad); err == nil {
			t.Errorf("ParseCPUList(%q) = %v", bad, got)
		}
	}
}

func TestCpusetArgs(t *testing.T) {
	cpus, _ := ParseCPUList("2,0-1")
	if got, want := CpusetArgs(cpus, 17), []string{"-l", "0,1,2", "-j", "17"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q want %q", got, want)
	}
}
