package hostvolume

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/bsdpot/nomad-pot-driver/freebsd"
	"github.com/bsdpot/nomad-pot-driver/pot"
)

// commandUsage is the operator's `nomad-pot-driver volume` help.
const commandUsage = `usage: nomad-pot-driver volume COMMAND [-namespace NS] NAME ...

  snapshots NAME                     list the volume's snapshots, oldest first
  rollback  NAME SNAPSHOT            roll the volume back to SNAPSHOT (later ones are
                                     destroyed); refused while a running pot mounts it
  restore   NAME SNAPSHOT NEWNAME    clone SNAPSHOT into a new fscomp NS_NEWNAME, for
                                     inspection (nomad volume register makes it a volume)
  send      [-from SNAPSHOT] NAME    moving the volume to another client: take snapshot
                                     move-TIME and write its ZFS stream to stdout, all
                                     of it, or only what changed since SNAPSHOT
  receive   NAME                     read a stream of send from stdin into the volume's
                                     fscomp on this client; nomad volume create of the
                                     volume here then adopts it (docs/migration.md)

NAME is the volume's name in namespace NS (default "default"): the fscomp NS_NAME.
SNAPSHOT is a name as snapshots lists it (the part after '@').
`

// Operator runs the operator's volume commands against a pot.
type Operator struct {
	Pot *pot.Client
	// IsRunning says whether a pot's jail runs (Pot.IsRunning when nil).
	IsRunning func(ctx context.Context, name string) (bool, error)
}

// Command runs `volume ARGS...` (receive reads stdin): 0 on success, 2 on a usage error, 1
// otherwise, with the message on stderr.
func (o *Operator) Command(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, commandUsage)
		return 2
	}
	fs := flag.NewFlagSet("volume "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	ns := fs.String("namespace", "default", "the volume's namespace")
	from := fs.String("from", "", "send: only what changed since this snapshot")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	want := map[string]int{"snapshots": 1, "rollback": 2, "restore": 3, "send": 1, "receive": 1}[args[0]]
	if want == 0 || fs.NArg() != want || (*from != "" && args[0] != "send") {
		fmt.Fprint(stderr, commandUsage)
		return 2
	}
	var err error
	switch args[0] {
	case "snapshots":
		err = o.snapshots(ctx, *ns, fs.Arg(0), stdout)
	case "rollback":
		err = o.rollback(ctx, *ns, fs.Arg(0), fs.Arg(1), stdout)
	case "restore":
		err = o.restore(ctx, *ns, fs.Arg(0), fs.Arg(1), fs.Arg(2), stdout)
	case "send":
		err = o.send(ctx, *ns, fs.Arg(0), *from, stdout, stderr)
	case "receive":
		err = o.receive(ctx, *ns, fs.Arg(0), stdin, stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "nomad-pot-driver volume %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

// volume is the dataset and mount point of volume NS_NAME.
func (o *Operator) volume(ctx context.Context, ns, name string) (dataset, path string, err error) {
	if dataset, err = o.dataset(ctx, ns, name); err != nil {
		return "", "", err
	}
	path, err = freebsd.ReadProperty(ctx, dataset, "mountpoint")
	if err != nil {
		return "", "", fmt.Errorf("volume %s: %w", name, err)
	}
	return dataset, path, nil
}

// dataset is the name of volume NS_NAME's fscomp dataset, which need not
// exist.
func (o *Operator) dataset(ctx context.Context, ns, name string) (string, error) {
	if err := errors.Join(checkName(ns), checkName(name)); err != nil {
		return "", fmt.Errorf("volume %q in namespace %q: %w", name, ns, err)
	}
	root, err := o.Pot.ZFSRoot(ctx)
	if err != nil {
		return "", err
	}
	return pot.FscompDataset(root, ns+"_"+name)
}

func (o *Operator) snapshots(ctx context.Context, ns, name string, stdout io.Writer) error {
	ds, _, err := o.volume(ctx, ns, name)
	if err != nil {
		return err
	}
	all, err := freebsd.Snapshots(ctx, ds)
	if err != nil {
		return err
	}
	for _, s := range all {
		snap, ok := strings.CutPrefix(s, ds+"@")
		if !ok {
			continue // a descendant's
		}
		fmt.Fprintln(stdout, snap+snapshotTaken(snap))
	}
	return nil
}

// snapshotTaken is when the driver took a snapshot of its own (its name
// ends in the time, unix nanoseconds), "" for another.
func snapshotTaken(snap string) string {
	if !strings.HasPrefix(snap, "nomad-") {
		return ""
	}
	n, err := strconv.ParseInt(snap[strings.LastIndexByte(snap, '-')+1:], 10, 64)
	if err != nil {
		return ""
	}
	return "\t" + time.Unix(0, n).UTC().Format(time.RFC3339) + "\tbefore a task start"
}

func checkSnapshot(snap string) error {
	if snap == "" || strings.ContainsAny(snap, "@/ \t\n\x00") || strings.HasPrefix(snap, "-") {
		return fmt.Errorf("snapshot %q: give the name after '@', as snapshots lists it", snap)
	}
	return nil
}

func (o *Operator) rollback(ctx context.Context, ns, name, snap string, stdout io.Writer) error {
	if err := checkSnapshot(snap); err != nil {
		return err
	}
	ds, path, err := o.volume(ctx, ns, name)
	if err != nil {
		return err
	}
	pots, err := o.Pot.PotsMounting(ctx, path)
	if err != nil {
		return err
	}
	running := o.IsRunning
	if running == nil {
		running = o.Pot.IsRunning
	}
	for _, p := range pots {
		on, err := running(ctx, p)
		if err != nil {
			return fmt.Errorf("is pot %s running: %w", p, err)
		}
		if on {
			return fmt.Errorf("volume %s is mounted by the running pot %s: stop its allocation first", name, p)
		}
	}
	if err := freebsd.Rollback(ctx, ds+"@"+snap); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "volume %s rolled back to %s@%s\n", name, ds, snap)
	return nil
}

func (o *Operator) restore(ctx context.Context, ns, name, snap, newName string, stdout io.Writer) error {
	if err := checkSnapshot(snap); err != nil {
		return err
	}
	ds, _, err := o.volume(ctx, ns, name)
	if err != nil {
		return err
	}
	dest, err := o.dataset(ctx, ns, newName)
	if err != nil {
		return err
	}
	if err := freebsd.Clone(ctx, ds+"@"+snap, dest); err != nil {
		return err
	}
	path, err := freebsd.ReadProperty(ctx, dest, "mountpoint")
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s@%s cloned into fscomp %s at %s\n", ds, snap, dest, path)
	return nil
}
