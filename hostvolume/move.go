package hostvolume

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/bsdpot/nomad-pot-driver/freebsd"
)

// Moving a volume to another client (docs/migration.md): `volume send` on
// the client that has it writes a ZFS stream of a new snapshot move-TIME
// to stdout, `volume receive` on the other reads it into the fscomp of the
// same name. The first pass, while the task runs, sends everything; the
// second, after it stopped, only what changed since (-from). The stream
// goes wherever the operator pipes it (ssh between the two clients).
// `nomad volume create` of the volume on the new client then adopts the
// received dataset: the plugin writes the new volume ID in place of the
// old one, which stays in MovedFromProperty.

// MovedFromProperty is set on a dataset `volume receive` made: the volume
// ID it had on the client it came from. A dataset whose volume ID is
// still that one is being moved here, and Create adopts it.
const MovedFromProperty = "org.bsdpot.nomad-pot-driver:moved-from"

// moveSnapshotPrefix starts the names of the snapshots send takes.
const moveSnapshotPrefix = "move-"

// send takes snapshot move-NOW of volume NS_NAME and writes its stream to
// stdout: all of it, or only what changed since snapshot from. What it
// sent, and the -from of the next pass, go to stderr.
func (o *Operator) send(ctx context.Context, ns, name, from string, stdout, stderr io.Writer) error {
	if from != "" {
		if err := checkSnapshot(from); err != nil {
			return err
		}
	}
	if f, ok := stdout.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			return errors.New("stdout is a terminal: pipe the stream into `nomad-pot-driver volume receive NAME` on the other client (e.g. through ssh)")
		}
	}
	ds, _, err := o.volume(ctx, ns, name)
	if err != nil {
		return err
	}
	snap := moveSnapshotPrefix + strconv.FormatInt(time.Now().UnixNano(), 10)
	if err := freebsd.Snapshot(ctx, ds, snap); err != nil {
		return err
	}
	n, err := freebsd.SendStream(ctx, ds+"@"+snap, from, stdout)
	if err != nil {
		return err
	}
	kind := "everything"
	if from != "" {
		kind = "the changes since " + from
	}
	fmt.Fprintf(stderr, "sent %s@%s (%s): %d bytes; the next pass: volume send -from %s %s\n", ds, snap, kind, n, snap, name)
	return nil
}

// receive reads a stream of send from stdin into volume NS_NAME's fscomp
// on this client. The first pass makes the dataset; a later one is only
// taken into a dataset an earlier receive made and no volume has adopted
// (whatever changed on it since is rolled back: the sender's copy is the
// volume).
func (o *Operator) receive(ctx context.Context, ns, name string, stdin io.Reader, stdout io.Writer) error {
	ds, err := o.dataset(ctx, ns, name)
	if err != nil {
		return err
	}
	id, err := freebsd.ReadProperty(ctx, ds, VolumeIDProperty)
	var ze *freebsd.ZFSError
	exists := true
	switch {
	case errors.As(err, &ze) && ze.Missing:
		exists = false
	case err != nil:
		return err
	default:
		movedFrom, err := freebsd.ReadProperty(ctx, ds, MovedFromProperty)
		if err != nil {
			return err
		}
		if movedFrom == "" || movedFrom != id {
			return fmt.Errorf("%s exists on this client and is not a volume being moved here (volume ID %q): left alone", ds, id)
		}
	}
	n, err := freebsd.ReceiveStream(ctx, ds, stdin, exists)
	if err != nil {
		return err
	}
	if id, err = freebsd.ReadProperty(ctx, ds, VolumeIDProperty); err != nil {
		return err
	}
	if id == "" {
		return fmt.Errorf("%s was received, but carries no volume ID: was the stream made by volume send?", ds)
	}
	if err := freebsd.WriteProperty(ctx, ds, MovedFromProperty, id); err != nil {
		return err
	}
	snaps, err := freebsd.Snapshots(ctx, ds)
	if err != nil {
		return err
	}
	last := ""
	if len(snaps) > 0 {
		last = strings.TrimPrefix(snaps[len(snaps)-1], ds+"@")
	}
	fmt.Fprintf(stdout, "received %d bytes into %s (up to snapshot %s) of volume %s; when the task has stopped on the other client and the last pass is in, `nomad volume create` of %s on this client adopts it\n", n, ds, last, id, name)
	return nil
}
