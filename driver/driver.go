// Package driver is the Nomad task driver plugin "pot": it runs each Nomad
// task in a FreeBSD jail managed by pot. It is the only code in this project
// that knows Nomad's plugin API; pot's CLI is reached only through package pot.
package driver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	"github.com/hashicorp/nomad/drivers/shared/eventer"
	"github.com/hashicorp/nomad/plugins/base"
	"github.com/hashicorp/nomad/plugins/drivers"
	"github.com/hashicorp/nomad/plugins/drivers/fsisolation"
	nomadhcl "github.com/hashicorp/nomad/plugins/shared/hclspec"
	pstructs "github.com/hashicorp/nomad/plugins/shared/structs"

	"github.com/bsdpot/nomad-pot-driver/consul"
	"github.com/bsdpot/nomad-pot-driver/freebsd"
	"github.com/bsdpot/nomad-pot-driver/hclspec"
	"github.com/bsdpot/nomad-pot-driver/pot"
)

const (
	// PluginName is the name jobs use: driver = "pot".
	PluginName = "pot"
	// PluginVersion is this plugin's version.
	PluginVersion = "0.1.0"
	// fingerprintPeriod is how often the host is fingerprinted again.
	fingerprintPeriod = 30 * time.Second
	// minPotVersion is the oldest pot the driver works with.
	minPotVersion = "0.15.0"
)

var pluginInfo = &base.PluginInfoResponse{
	Type:              base.PluginTypeDriver,
	PluginApiVersions: []string{drivers.ApiVersion010},
	PluginVersion:     PluginVersion,
	Name:              PluginName,
}

// capabilities: the jail is the task's filesystem (Image), so Nomad hands
// the task's directories to us and we mount them into the jail. The
// MountConfigs field never reaches Nomad over gRPC, so StartTask refuses
// mounts it cannot honour itself.
var capabilities = &drivers.Capabilities{
	SendSignals:  true,
	Exec:         true,
	FSIsolation:  fsisolation.Image,
	MountConfigs: drivers.MountConfigSupportAll,
}

// Driver is the pot task driver.
type Driver struct {
	eventer *eventer.Eventer
	logger  hclog.Logger

	ctx    context.Context // ends when the plugin shuts down
	cancel context.CancelFunc

	mu     sync.RWMutex
	config *hclspec.PluginConfig
	pot    *pot.Client

	tasks *taskStore

	// host is the kernel read for limits, stats and the fingerprint:
	// detected on first use (hostProbe), or a test's.
	host freebsd.Host

	// registrar registers pots in Consul when the plugin config has a
	// consul block; stopRegistrar ends its loop.
	registrar     *consul.Registrar
	stopRegistrar context.CancelFunc

	// janitor sweeps orphaned pots and prunes the image cache
	// (janitor.go); flight is what starts under way use.
	janitor janitorState
	flight  inFlight
	// configured wakes the janitor when SetConfig changed its period
	// (New starts it before Nomad's SetConfig).
	configured chan struct{}
	// images is the image cache's view of pot's storage, made on first
	// use (imagestore.go). storeMu is taken before mu, never after.
	storeMu sync.Mutex
	images  imageStore
	// imports holds a lock per image a start imports (lockImport).
	importsMu sync.Mutex
	imports   map[string]*sync.Mutex
}

// New returns a pot driver.
func New(logger hclog.Logger) *Driver {
	ctx, cancel := context.WithCancel(context.Background())
	logger = logger.Named(PluginName)
	cfg := hclspec.DefaultPluginConfig()
	d := &Driver{
		eventer: eventer.NewEventer(ctx, logger),
		logger:  logger,
		ctx:     ctx,
		cancel:  cancel,
		config:  cfg,
		pot:     pot.New(cfg.PotBin, logger.Named("pot")),
		tasks:   newTaskStore(),

		configured: make(chan struct{}, 1),
	}
	d.flight.pots = map[string]int{}
	d.flight.images = map[string]int{}
	go d.janitorLoop()
	return d
}

// PluginInfo describes the plugin.
func (d *Driver) PluginInfo() (*base.PluginInfoResponse, error) { return pluginInfo, nil }

// ConfigSchema is the schema of the plugin "pot" {} block.
func (d *Driver) ConfigSchema() (*nomadhcl.Spec, error) { return hclspec.PluginConfigSpec, nil }

// SetConfig applies the plugin configuration.
func (d *Driver) SetConfig(c *base.Config) error {
	cfg := hclspec.DefaultPluginConfig()
	if c != nil && len(c.PluginConfig) > 0 {
		if err := base.MsgPackDecode(c.PluginConfig, cfg); err != nil {
			return fmt.Errorf("decoding the pot plugin config: %w", err)
		}
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("pot plugin config: %w", err)
	}
	// Lock order: storeMu before mu, as imageStore takes them (it holds
	// storeMu while it asks pot, through potClient).
	d.storeMu.Lock()
	defer d.storeMu.Unlock()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.config = cfg
	next := pot.New(cfg.PotBin, d.logger.Named("pot"))
	next.CallTimeout, next.PrepareTimeout = cfg.PotTimeouts()
	next.Observer = d.pot.Observer // an observer (benchmarks) outlives reconfiguration
	d.pot = next
	d.images = nil // pot_bin may name another pot
	select {
	case d.configured <- struct{}{}:
	default: // a wake-up is pending already
	}
	return d.startRegistrar(cfg)
}

func (d *Driver) potClient() *pot.Client {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.pot
}

// TaskConfigSchema is the schema of a task's config {} block.
func (d *Driver) TaskConfigSchema() (*nomadhcl.Spec, error) { return hclspec.TaskConfigSpec, nil }

// Capabilities tells Nomad what the driver supports.
func (d *Driver) Capabilities() (*drivers.Capabilities, error) { return capabilities, nil }

// TaskEvents streams the driver's task events to Nomad.
func (d *Driver) TaskEvents(ctx context.Context) (<-chan *drivers.TaskEvent, error) {
	return d.eventer.TaskEvents(ctx)
}

// Shutdown stops the plugin's background work. Jails keep running: they
// are recovered by the next plugin process.
func (d *Driver) Shutdown() { d.cancel() }

// Fingerprint sends one fingerprint at once and then one every period.
func (d *Driver) Fingerprint(ctx context.Context) (<-chan *drivers.Fingerprint, error) {
	ch := make(chan *drivers.Fingerprint)
	go func() {
		defer close(ch)
		timer := time.NewTimer(0)
		defer timer.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-d.ctx.Done():
				return
			case <-timer.C:
				fp := d.fingerprint(ctx)
				select {
				case ch <- fp:
				case <-ctx.Done():
					return
				case <-d.ctx.Done():
					return
				}
				timer.Reset(fingerprintPeriod)
			}
		}
	}()
	return ch, nil
}

func (d *Driver) fingerprint(ctx context.Context) *drivers.Fingerprint {
	client := d.potClient()
	pc := d.pluginConfig()
	attrs := map[string]*pstructs.Attribute{
		"driver.pot.plugin_version": pstructs.NewStringAttribute(PluginVersion),
		// Whether images are verified without the job asking, and
		// whether a job without a key is refused.
		"driver.pot.signature_default_key": pstructs.NewBoolAttribute(pc.DefaultSignaturePubkey != ""),
		"driver.pot.require_signed_images": pstructs.NewBoolAttribute(pc.RequireSignedImages),
	}
	if key := pc.DefaultSignaturePubkey; key != "" {
		// Every task without a key of its own would fail.
		if _, err := keyID(key); err != nil {
			return &drivers.Fingerprint{
				Attributes:        attrs,
				Health:            drivers.HealthStateUnhealthy,
				HealthDescription: fmt.Sprintf("default_signature_pubkey %s: %v", key, err),
			}
		}
	}
	if _, err := os.Stat(client.Bin); err != nil {
		return &drivers.Fingerprint{
			Attributes:        attrs,
			Health:            drivers.HealthStateUndetected,
			HealthDescription: fmt.Sprintf("pot not found at %s", client.Bin),
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	version, err := client.Version(ctx)
	if err != nil {
		return &drivers.Fingerprint{
			Attributes:        attrs,
			Health:            drivers.HealthStateUnhealthy,
			HealthDescription: fmt.Sprintf("pot version failed: %v", err),
		}
	}
	attrs["driver.pot.version"] = pstructs.NewStringAttribute(version)
	if !versionAtLeast(version, minPotVersion) {
		return &drivers.Fingerprint{
			Attributes:        attrs,
			Health:            drivers.HealthStateUnhealthy,
			HealthDescription: fmt.Sprintf("pot %s is older than %s, the oldest this driver supports", version, minPotVersion),
		}
	}
	health, desc := d.hostFingerprint(ctx, client, attrs)
	return &drivers.Fingerprint{
		Attributes:        attrs,
		Health:            health,
		HealthDescription: desc,
	}
}

// errTaskNotFound wraps drivers.ErrTaskNotFound with the ID; across gRPC it
// arrives as a plain string, so the message must say what happened.
func errTaskNotFound(id string) error {
	return fmt.Errorf("%w: %s", drivers.ErrTaskNotFound, id)
}

var errTaskRunning = errors.New("task is still running; destroy it with force or stop it first")
