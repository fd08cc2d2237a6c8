// Package hostvolume is the Nomad dynamic host volume plugin of the pot
// driver ("pot-fscomp"): `nomad volume create` makes a volume a pot fscomp
// (a ZFS dataset under pot's ZFS_ROOT/fscomp, listed by `pot ls -f`) with
// capacity_max as its quota, and `nomad volume delete` destroys it with its
// snapshots. It is the only code that knows Nomad's host volume plugin
// protocol (client/hostvolumemanager, Nomad 1.10+): the operation as the
// first argument, the request in DHV_* environment variables, JSON on
// stdout. The driver's binary runs as this plugin when Nomad calls it from
// its host_volume_plugin_dir (under PluginName).
package hostvolume

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// PluginName is the plugin's ID: the name of its executable in the Nomad
// client's host_volume_plugin_dir (a link to the driver's binary), and
// the plugin_id of a volume specification.
const PluginName = "pot-fscomp"

// Nomad's variables (client/hostvolumemanager).
const (
	EnvOperation   = "DHV_OPERATION"
	EnvVolumesDir  = "DHV_VOLUMES_DIR"
	EnvPluginDir   = "DHV_PLUGIN_DIR"
	EnvCreatedPath = "DHV_CREATED_PATH"
	EnvNamespace   = "DHV_NAMESPACE"
	EnvVolumeName  = "DHV_VOLUME_NAME"
	EnvVolumeID    = "DHV_VOLUME_ID"
	EnvNodeID      = "DHV_NODE_ID"
	EnvNodePool    = "DHV_NODE_POOL"
	EnvCapacityMin = "DHV_CAPACITY_MIN_BYTES"
	EnvCapacityMax = "DHV_CAPACITY_MAX_BYTES"
	EnvParameters  = "DHV_PARAMETERS"
)

// Operations Nomad asks of a plugin.
const (
	OpFingerprint = "fingerprint"
	OpCreate      = "create"
	OpDelete      = "delete"
)

// Request is one call of the plugin, validated.
type Request struct {
	Operation string
	// Namespace and Name name the volume; the fscomp is NAMESPACE_NAME.
	Namespace, Name string
	// ID is the volume's ID (Nomad's UUID), kept on the dataset: a create
	// of the same ID again updates it; another ID of that name is refused.
	ID string
	// CapacityMin and CapacityMax are bytes; 0 is unset.
	CapacityMin, CapacityMax int64
	// CreatedPath is what create answered (delete only).
	CreatedPath string
	Params      Params
}

// Params are a volume specification's parameters{} the plugin takes.
type Params struct {
	// Compression is the dataset's compression ("" inherits).
	Compression string
	// RecordSize is its recordsize in bytes (0 inherits).
	RecordSize int64
	// Reserve makes capacity_min a reservation (reserve = "true").
	Reserve bool
	// Snapshots is how many snapshots the driver keeps, newest first, of
	// those it takes before each task start (snapshots, default 5).
	Snapshots int
}

// DefaultSnapshots is how many pre-start snapshots are kept by default.
const DefaultSnapshots = 5

// MaxSnapshots bounds the snapshots parameter.
const MaxSnapshots = 1000

// ParseRequest reads a call: args are the plugin's arguments (the
// operation first), env Nomad's variables. Errors name the variable or
// parameter and its value.
func ParseRequest(args []string, env func(string) string) (*Request, error) {
	op := env(EnvOperation)
	if len(args) > 0 && args[0] != op {
		if op != "" {
			return nil, fmt.Errorf("the operation argument %q and %s=%q differ", args[0], EnvOperation, op)
		}
		op = args[0]
	}
	r := &Request{Operation: op}
	switch op {
	case OpFingerprint:
		return r, nil
	case OpCreate, OpDelete:
	default:
		return nil, fmt.Errorf("%s=%q: want %s, %s or %s", EnvOperation, op, OpFingerprint, OpCreate, OpDelete)
	}
	var errs []error
	field := func(key string, check func(string) error) string {
		v := env(key)
		if err := check(v); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", key, v, err))
		}
		return v
	}
	r.Namespace = field(EnvNamespace, checkName)
	r.Name = field(EnvVolumeName, checkName)
	r.ID = field(EnvVolumeID, checkID)
	if op == OpCreate {
		r.CapacityMin = capacity(EnvCapacityMin, env, &errs)
		r.CapacityMax = capacity(EnvCapacityMax, env, &errs)
		if r.CapacityMin > 0 && r.CapacityMax > 0 && r.CapacityMin > r.CapacityMax {
			errs = append(errs, fmt.Errorf("%s=%d is more than %s=%d", EnvCapacityMin, r.CapacityMin, EnvCapacityMax, r.CapacityMax))
		}
	} else {
		r.CreatedPath = env(EnvCreatedPath)
	}
	p, err := ParseParams(env(EnvParameters))
	if err != nil {
		errs = append(errs, err)
	}
	r.Params = p
	if r.Params.Reserve && r.CapacityMin == 0 && op == OpCreate {
		errs = append(errs, fmt.Errorf("parameter reserve needs capacity_min (%s)", EnvCapacityMin))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return r, nil
}

// nameChars are what a volume name and namespace may hold: pot takes an
// fscomp name of these (no '/', '@', whitespace), and Nomad's names use
// no others.
var nameChars = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// MaxName bounds a name (a ZFS dataset name is at most 255 bytes in all).
const MaxName = 100

func checkName(v string) error {
	switch {
	case v == "":
		return errors.New("missing")
	case len(v) > MaxName:
		return fmt.Errorf("longer than %d bytes", MaxName)
	case !nameChars.MatchString(v):
		return errors.New("want letters, digits, '_', '.' and '-', starting with a letter or digit")
	}
	return nil
}

var idChars = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func checkID(v string) error {
	if !idChars.MatchString(v) {
		return errors.New("want a UUID (Nomad's volume ID)")
	}
	return nil
}

func capacity(key string, env func(string) string, errs *[]error) int64 {
	v := env(key)
	if v == "" {
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		*errs = append(*errs, fmt.Errorf("%s=%q: want a number of bytes", key, v))
		return 0
	}
	return n
}

// compressions are the values of ZFS's compression property (OpenZFS
// 2.x, FreeBSD 13+).
var compressions = func() map[string]bool {
	m := map[string]bool{"on": true, "off": true, "lz4": true, "lzjb": true, "zle": true, "gzip": true, "zstd": true, "zstd-fast": true}
	for i := 1; i <= 9; i++ {
		m["gzip-"+strconv.Itoa(i)] = true
	}
	for i := 1; i <= 19; i++ {
		m["zstd-"+strconv.Itoa(i)] = true
	}
	for _, i := range []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 500, 1000} {
		m["zstd-fast-"+strconv.Itoa(i)] = true
	}
	return m
}()

// ParseParams reads DHV_PARAMETERS: the volume specification's
// parameters{} as a JSON object of strings. Keys: compression,
// recordsize (a power of two from 512 to 1M: "128K", "1M", "4096"),
// reserve ("true"/"false"), snapshots (0..MaxSnapshots). Another key is
// an error naming it.
func ParseParams(s string) (Params, error) {
	p := Params{Snapshots: DefaultSnapshots}
	if strings.TrimSpace(s) == "" || s == "null" {
		return p, nil
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return p, fmt.Errorf("%s: not a JSON object of strings: %w", EnvParameters, err)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var errs []error
	for _, k := range keys {
		v := m[k]
		bad := func(want string) { errs = append(errs, fmt.Errorf("parameter %s = %q: %s", k, v, want)) }
		switch k {
		case "compression":
			if !compressions[v] {
				bad("want a ZFS compression (off, on, lz4, zstd, zstd-N, gzip-N, ...)")
			}
			p.Compression = v
		case "recordsize":
			n, ok := parseRecordSize(v)
			if !ok {
				bad("want a power of two from 512 to 1M (e.g. 128K)")
			}
			p.RecordSize = n
		case "reserve":
			b, err := strconv.ParseBool(v)
			if err != nil {
				bad("want true or false")
			}
			p.Reserve = b
		case "snapshots":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > MaxSnapshots {
				bad(fmt.Sprintf("want a number of snapshots to keep, 0 to %d", MaxSnapshots))
			}
			p.Snapshots = n
		default:
			errs = append(errs, fmt.Errorf("parameter %s: unknown (known: compression, recordsize, reserve, snapshots)", k))
		}
	}
	return p, errors.Join(errs...)
}

func parseRecordSize(v string) (int64, bool) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(v, "K"), strings.HasSuffix(v, "k"):
		mult, v = 1<<10, v[:len(v)-1]
	case strings.HasSuffix(v, "M"), strings.HasSuffix(v, "m"):
		mult, v = 1<<20, v[:len(v)-1]
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 || n > 1<<20 {
		return 0, false
	}
	n *= mult
	if n < 512 || n > 1<<20 || n&(n-1) != 0 {
		return 0, false
	}
	return n, true
}

// Fscomp is the volume's fscomp name: NAMESPACE_NAME.
func (r *Request) Fscomp() string { return r.Namespace + "_" + r.Name }

// pluginDeadline is within Nomad's: 60 s for create and delete.
const pluginDeadline = 55 * time.Second

// commandDeadline bounds an operator's command (a rollback of a large
// volume takes a while).
const commandDeadline = 10 * time.Minute
