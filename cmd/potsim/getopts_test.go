package main

import (
	"reflect"
	"testing"
)

func TestGetopts(t *testing.T) {
	cases := []struct {
		name     string
		args     []string
		optstr   string
		opts     []opt
		operands []string
	}{
		{"separate", []string{"-p", "NAME", "-F"}, "hvp:F", []opt{{'p', "NAME"}, {'F', ""}}, []string{}},
		{"grouped", []string{"-Fp", "NAME"}, "hvp:F", []opt{{'F', ""}, {'p', "NAME"}}, []string{}},
		{"attached", []string{"-pNAME", "-qr"}, "qrp:", []opt{{'p', "NAME"}, {'q', ""}, {'r', ""}}, []string{}},
		{"arg looks like option", []string{"-c", "-x", "-v"}, "vc:", []opt{{'c', "-x"}, {'v', ""}}, []string{}},
		{"empty arg", []string{"-C", "", "-v"}, "vC:", []opt{{'C', ""}, {'v', ""}}, []string{}},
		{"operands stop", []string{"-p", "x", "cmd", "-l"}, "p:", []opt{{'p', "x"}}, []string{"cmd", "-l"}},
		{"double dash", []string{"-p", "x", "--", "-l"}, "p:l", []opt{{'p', "x"}}, []string{"-l"}},
		{"lone dash", []string{"-", "-p"}, "p:", nil, []string{"-", "-p"}},
		{"positional name", []string{"NAME"}, "hvp:", nil, []string{"NAME"}},
		{"unknown", []string{"-p", "x", "-z", "-h"}, "hp:", []opt{{'p', "x"}, {'?', ""}}, []string{"-h"}},
		{"missing arg", []string{"-v", "-p"}, "vp:", []opt{{'v', ""}, {'?', ""}}, []string{}},
		{"colon is no option", []string{"-:"}, "p:", []opt{{'?', ""}}, []string{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opts, operands := getopts(c.args, c.optstr)
			if !reflect.DeepEqual(opts, c.opts) {
				t.Errorf("opts = %q, want %q", opts, c.opts)
			}
			if len(operands) == 0 && len(c.operands) == 0 {
				return
			}
			if !reflect.DeepEqual(operands, c.operands) {
				t.Errorf("operands = %q, want %q", operands, c.operands)
			}
		})
	}
}
