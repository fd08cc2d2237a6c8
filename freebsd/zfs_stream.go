package freebsd

import (
	"context"
	"fmt"
	"io"
	"strings"
)

// Streams of `zfs send` and `zfs receive` run here rather than through
// go-zfs: its runner bounds every call by one timeout (ZFSCallTimeout,
// right for property reads, not for a stream of gigabytes), and it has no
// -p (properties) or -F (roll back the target). A stream is bounded by
// its context only.

// SendStream writes the stream of snapshot DATASET@NAME to w with the
// dataset's properties (`zfs send -p`): the whole snapshot, or with base
// (a snapshot name of the same dataset, after the '@') only what changed
// since it (`-i`). It returns the bytes written.
func SendStream(ctx context.Context, snapshot, base string, w io.Writer) (int64, error) {
	dataset, _, _ := strings.Cut(snapshot, "@")
	if _, err := snapshotOf(ctx, snapshot); err != nil {
		return 0, err
	}
	args := []string{"send", "-p"}
	if base != "" {
		if strings.ContainsAny(base, "@/ \t\n\x00") || strings.HasPrefix(base, "-") {
			return 0, &ZFSError{What: "snapshot " + snapshot, Err: fmt.Errorf("invalid base snapshot %q", base)}
		}
		args = append(args, "-i", dataset+"@"+base)
	}
	cw := &countingWriter{w: w}
	if err := runStream(ctx, nil, cw, append(args, snapshot)...); err != nil {
		return cw.n, &ZFSError{What: "snapshot " + snapshot, Missing: strings.Contains(err.Error(), "does not exist"), Err: err}
	}
	return cw.n, nil
}

// ReceiveStream reads a stream from r into dataset (`zfs receive`): a
// full stream makes it, an incremental one adds to it. With rollback
// (-F) the dataset is first rolled back to the stream's base, undoing
// what changed on it since. It returns the bytes read.
func ReceiveStream(ctx context.Context, dataset string, r io.Reader, rollback bool) (int64, error) {
	if err := checkDatasetName(dataset); err != nil {
		return 0, err
	}
	args := []string{"receive"}
	if rollback {
		args = append(args, "-F")
	}
	cr := &countingReader{r: r}
	if err := runStream(ctx, cr, nil, append(args, dataset)...); err != nil {
		return cr.n, &ZFSError{What: "dataset " + dataset, Err: err}
	}
	return cr.n, nil
}

// runStream runs zfs with stdin and stdout (nil: none), bounded by ctx.
func runStream(ctx context.Context, in io.Reader, out io.Writer, args ...string) error {
	return runTool(ctx, in, out, FindTool("zfs", "/sbin/zfs"), args...)
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
