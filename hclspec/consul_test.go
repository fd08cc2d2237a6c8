package hclspec

import (
	"strings"
	"testing"
	"time"
)

func TestConsulTaskBlock(t *testing.T) {
	base := func() *TaskConfig {
		return &TaskConfig{Image: "https://example.org/img", Pot: "web", Tag: "1.0"}
	}
	c := base()
	s, err := c.Validate()
	if err != nil || s.Consul != nil {
		t.Fatalf("no consul block: %+v %v", s, err)
	}
	c.Consul = &ConsulTaskConfig{Name: "web", Tags: []string{"v1", "prod"}, Port: "http"}
	s, err = c.Validate()
	if err != nil || s.Consul == nil || s.Consul.Name != "web" || s.Consul.PortLabel != "http" || len(s.Consul.Tags) != 2 {
		t.Fatalf("consul block: %+v %v", s, err)
	}
	for _, bad := range []struct {
		cfg  ConsulTaskConfig
		says string
	}{
		{ConsulTaskConfig{Name: ""}, `consul.name ""`},
		{ConsulTaskConfig{Name: "web.app"}, `consul.name "web.app"`},
		{ConsulTaskConfig{Name: "web", Tags: []string{"ok", "bad\ntag"}}, `consul.tags[1]`},
		{ConsulTaskConfig{Name: "web", Tags: []string{""}}, `consul.tags[0]`},
		{ConsulTaskConfig{Name: "web", Port: "a b"}, `consul.port "a b"`},
	} {
		c := base()
		cfg := bad.cfg
		c.Consul = &cfg
		if _, err := c.Validate(); err == nil || !strings.Contains(err.Error(), bad.says) {
			t.Errorf("%+v: %v", bad.cfg, err)
		}
	}
}

func TestConsulPluginBlock(t *testing.T) {
	cfg := DefaultPluginConfig()
	cfg.Consul = &ConsulPluginConfig{Address: "127.0.0.1:8500", TTL: "5s", AntiEntropyPeriod: "1m"}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ttl, period, err := cfg.Consul.Durations()
	if err != nil || ttl != 5*time.Second || period != time.Minute {
		t.Fatalf("durations: %s %s %v", ttl, period, err)
	}
	for _, bad := range []struct {
		c    ConsulPluginConfig
		says string
	}{
		{ConsulPluginConfig{TTL: "soon"}, `consul.ttl "soon"`},
		{ConsulPluginConfig{TTL: "10ms"}, `at least 1s`},
		{ConsulPluginConfig{CAFile: "ca.pem"}, `consul.ca_file "ca.pem"`},
		{ConsulPluginConfig{CertFile: "/c.pem"}, `go together`},
		{ConsulPluginConfig{Token: "a\nb"}, `consul.token`},
	} {
		cfg := DefaultPluginConfig()
		c := bad.c
		cfg.Consul = &c
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), bad.says) {
			t.Errorf("%+v: %v", bad.c, err)
		}
	}
}

func TestConsulBlocksDecodeLikeNomad(t *testing.T) {
	pc, err := decodePluginConfig(t, map[string]interface{}{})
	if err != nil || pc.Consul != nil {
		t.Fatalf("no consul block: %+v %v", pc.Consul, err)
	}
	pc, err = decodePluginConfig(t, map[string]interface{}{
		"consul": []map[string]interface{}{{"address": "127.0.0.1:8500", "ttl": "5s"}},
	})
	if err != nil || pc.Consul == nil || pc.Consul.Address != "127.0.0.1:8500" || pc.Consul.TTL != "5s" || pc.Validate() != nil {
		t.Fatalf("consul block: %+v %v", pc.Consul, err)
	}

	var tc TaskConfig
	job := map[string]interface{}{"image": "https://example.org/i", "pot": "web", "tag": "1",
		"consul": []map[string]interface{}{{"name": "web", "tags": []string{"a"}, "port": "http"}}}
	if err := decodeLikeNomad(t, TaskConfigSpec, job, &tc); err != nil {
		t.Fatal(err)
	}
	if tc.Consul == nil || tc.Consul.Name != "web" || tc.Consul.Port != "http" || len(tc.Consul.Tags) != 1 {
		t.Fatalf("task consul block: %+v", tc.Consul)
	}
	var none TaskConfig
	delete(job, "consul")
	if err := decodeLikeNomad(t, TaskConfigSpec, job, &none); err != nil || none.Consul != nil {
		t.Fatalf("no task consul block: %+v %v", none.Consul, err)
	}
}
