package driver

import (
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/hashicorp/nomad/nomad/structs"
	"github.com/hashicorp/nomad/plugins/base"

	"github.com/bsdpot/nomad-pot-driver/consul"
	"github.com/bsdpot/nomad-pot-driver/hclspec"
	"github.com/bsdpot/nomad-pot-driver/internal/testconsul"
)

func TestConsulRegistrationFollowsTheJail(t *testing.T) {
	agent := testconsul.New(t)
	agent.Start()
	env := newTestEnv(t)
	_, h := env.newDriverWith(&hclspec.PluginConfig{PotBin: potsimBin, Consul: &hclspec.ConsulPluginConfig{Address: agent.Addr(), TTL: "2s"}})

	register := func(name string) (string, string) {
		cfg, tc := env.task(name, "")
		tc.NetworkMode = "public-bridge"
		tc.PortMap = map[string]string{"http": "8080"}
		tc.Args = []string{"-c", webServerCmd(t, 8080)}
		tc.Consul = &hclspec.ConsulTaskConfig{Name: "jailweb", Tags: []string{"pot"}, Port: "http"}
		cfg.Resources.Ports = &structs.AllocatedPorts{{Label: "http", Value: freePort(t), HostIP: "127.0.0.1"}}
		encode(t, cfg, tc)
		allocDir(t, h, cfg, true)
		_, network, err := h.StartTask(cfg)
		if err != nil {
			t.Fatalf("StartTask: %v", err)
		}
		st, _ := h.InspectTask(cfg.ID)
		id := consul.ServiceID(st.DriverAttributes["pot_name"])
		testconsul.Eventually(t, 10*time.Second, "registered and passing", func() bool {
			return agent.CheckStatus(consul.CheckID(id)) == api.HealthPassing
		})
		svc, _, err := agent.Client().Agent().Service(id, nil)
		if err != nil || svc.Service != "jailweb" || svc.Address != network.IP || svc.Port != 8080 {
			t.Fatalf("registration %+v %v; jail at %s", svc, err, network.IP)
		}
		return cfg.ID, id
	}

	// Stopped by Nomad: deregistered.
	taskID, serviceID := register("stopped")
	if err := h.StopTask(taskID, 5*time.Second, "SIGTERM"); err != nil {
		t.Fatal(err)
	}
	testconsul.Eventually(t, 5*time.Second, "deregistered at stop", func() bool {
		_, _, err := agent.Client().Agent().Service(serviceID, nil)
		return err != nil
	})

	// Killed behind the driver's back: critical at once.
	taskID, serviceID = register("killed")
	st, _ := h.InspectTask(taskID)
	// pot refuses to stop a pot still starting: retry as an operator would.
	testconsul.Eventually(t, 10*time.Second, "pot stop succeeds", func() bool {
		return env.client.Stop(t.Context(), st.DriverAttributes["pot_name"]) == nil
	})
	begin := time.Now()
	testconsul.Eventually(t, 2*time.Second, "critical once the pot died", func() bool {
		return agent.CheckStatus(consul.CheckID(serviceID)) == api.HealthCritical
	})
	t.Logf("check critical %s after pot stop returned", time.Since(begin))
	if err := h.DestroyTask(taskID, true); err != nil {
		t.Fatal(err)
	}
	testconsul.Eventually(t, 5*time.Second, "deregistered at destroy", func() bool {
		_, _, err := agent.Client().Agent().Service(serviceID, nil)
		return err != nil
	})
}

func TestConsulBlockNeedsPluginConsul(t *testing.T) {
	env := newTestEnv(t)
	_, h := env.newDriver()
	cfg, tc := env.task("noconsul", "true")
	tc.Consul = &hclspec.ConsulTaskConfig{Name: "web"}
	encode(t, cfg, tc)
	allocDir(t, h, cfg, false)
	if _, _, err := h.StartTask(cfg); err == nil {
		t.Fatal("a consul block was accepted without a Consul to register in")
	}
}

// TestConsulRegistrationSurvivesSetConfig: the plugin config is set again
// (Nomad does at every plugin restart handshake; an operator's change): the
// new registrar takes over the running task's registration, which keeps
// passing past its TTL and still turns critical when the jail dies. (A new
// registrar used to start empty: the check lapsed to critical within the
// TTL while the jail ran.)
func TestConsulRegistrationSurvivesSetConfig(t *testing.T) {
	agent := testconsul.New(t)
	agent.Start()
	env := newTestEnv(t)
	pc := &hclspec.PluginConfig{PotBin: potsimBin, Consul: &hclspec.ConsulPluginConfig{Address: agent.Addr(), TTL: "2s"}}
	_, h := env.newDriverWith(pc)
	cfg, tc := env.task("survivor", "sleep 60")
	tc.Consul = &hclspec.ConsulTaskConfig{Name: "survivor"}
	start(t, h, cfg, tc)
	st, _ := h.InspectTask(cfg.ID)
	id := consul.ServiceID(st.DriverAttributes["pot_name"])
	testconsul.Eventually(t, 10*time.Second, "registered and passing", func() bool {
		return agent.CheckStatus(consul.CheckID(id)) == api.HealthPassing
	})
	var data []byte
	if err := base.MsgPackEncode(&data, pc); err != nil {
		t.Fatal(err)
	}
	if err := h.SetConfig(&base.Config{PluginConfig: data}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * 2 * time.Second)
	if got := agent.CheckStatus(consul.CheckID(id)); got != api.HealthPassing {
		t.Fatalf("three TTLs after SetConfig the running task's check is %q", got)
	}
	testconsul.Eventually(t, 10*time.Second, "pot stop succeeds", func() bool {
		return env.client.Stop(t.Context(), st.DriverAttributes["pot_name"]) == nil
	})
	testconsul.Eventually(t, 2*time.Second, "critical once the pot died", func() bool {
		return agent.CheckStatus(consul.CheckID(id)) == api.HealthCritical
	})
}
