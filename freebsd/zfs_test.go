package freebsd

import (
	"reflect"
	"testing"
	"time"

	zfs "github.com/mistifyio/go-zfs/v4"
)

func TestPotDatasets(t *testing.T) {
	const jails = "zroot/pot/jails"
	list := []*zfs.Dataset{
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
	got := potDatasets(jails, list)
	want := map[string]PotDataset{
		"nginx_1_1":             {Used: 300 << 20},
		"web_www_6f4e_12345678": {Used: 1 << 20, Origins: []string{"nginx_1_1"}},
		"app_2":                 {Used: 5 << 20, Origins: []string{"nginx_1_1"}},
		"odd":                   {Used: 1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("potDatasets:\n got %#v\nwant %#v", got, want)
	}
}

func TestImageMark(t *testing.T) {
	at := time.Date(2026, 11, 23, 14, 0, 0, 123456789, time.FixedZone("x", 3600))
	got, ok, err := ParseImageMark(FormatImageMark(at))
	if err != nil || !ok || !got.Equal(at) {
		t.Fatalf("round trip: %v %v %v", got, ok, err)
	}
	for _, v := range []string{"", "-", " - \n"} {
		if _, ok, err := ParseImageMark(v); ok || err != nil {
			t.Errorf("%q: %v %v", v, ok, err)
		}
	}
	if _, _, err := ParseImageMark("yesterday"); err == nil {
		t.Error("a bad mark parsed")
	}
}
