package pot

import (
	"reflect"
	"testing"

	"github.com/bsdpot/nomad-pot-driver/freebsd"
)

func TestPotDatasets(t *testing.T) {
	const jails = "zroot/pot/jails"
	list := []freebsd.Filesystem{
		{Name: jails, Used: 999},
		{Name: jails + "/nginx_1_1", Used: 300 << 20},
		{Name: jails + "/nginx_1_1/m", Used: 299 << 20},
		{Name: jails + "/nginx_1_1/m@1700000000"},
		// a task's clone of the image
		{Name: jails + "/web_www_6f4e_12345678", Used: 1 << 20},
		{Name: jails + "/web_www_6f4e_12345678/m", Used: 1 << 20, Origin: jails + "/nginx_1_1/m@1700000000"},
		// an image imported with a dependency (import -o origin=...)
		{Name: jails + "/app_2", Used: 5 << 20, Origin: jails + "/nginx_1_1@1700000000"},
		{Name: jails + "/app_2/m", Used: 4 << 20},
		// another tree's datasets and origins are not pots
		{Name: "zroot/pot/bases/14.3", Used: 7},
		{Name: jails + "/odd", Used: 1, Origin: "zroot/elsewhere/x@s"},
	}
	got := PotDatasets("zroot/pot", list)
	want := map[string]PotDataset{
		"nginx_1_1":             {Used: 300 << 20},
		"web_www_6f4e_12345678": {Used: 1 << 20, Origins: []string{"nginx_1_1"}},
		"app_2":                 {Used: 5 << 20, Origins: []string{"nginx_1_1"}},
		"odd":                   {Used: 1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("PotDatasets:\n got %#v\nwant %#v", got, want)
	}
	for _, bad := range []string{"", "a/b", "a@s", "-x", "a b"} {
		if _, err := Dataset("zroot/pot", bad); err == nil {
			t.Errorf("Dataset(%q) accepted", bad)
		}
	}
	if ds, err := Dataset("zroot/pot", "img_1_0"); err != nil || ds != "zroot/pot/jails/img_1_0" {
		t.Errorf("Dataset: %q %v", ds, err)
	}
}
