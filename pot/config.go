package pot

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
)

// pot's configuration keys the driver reads (`pot config -g KEY`).
const (
	configFSRoot  = "fs_root"  // POT_FS_ROOT: where pot keeps its pots
	configZFSRoot = "zfs_root" // POT_ZFS_ROOT: the dataset they are on
)

// ErrNotInitialised: pot refuses to work before `pot init` has run on the
// host.
var ErrNotInitialised = errors.New("pot is not initialised: run `pot init` on this host")

// notInitialised tells pot's refusal to run before `pot init` from other
// failures: pot-cmd's "POT_FS_ROOT does not exist, please run 'pot init'"
// (every subcommand but version and init) and _is_init's "Your system is
// not initialized, please run pot init".
func notInitialised(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "please run 'pot init'") || strings.Contains(msg, "please run pot init")
}

// ZFSRoot returns the ZFS dataset pot keeps its pots on (`pot config -g
// zfs_root`), read on every call: a fingerprint sees a change. A pot
// never initialised is ErrNotInitialised (wrapping pot's answer); an empty
// answer is an error.
func (c *Client) ZFSRoot(ctx context.Context) (string, error) {
	root, err := c.Config(ctx, configZFSRoot)
	if err != nil {
		if notInitialised(err) {
			return "", fmt.Errorf("%w (pot config %s: %w)", ErrNotInitialised, configZFSRoot, err)
		}
		return "", fmt.Errorf("pot config %s: %w", configZFSRoot, err)
	}
	if root == "" {
		return "", fmt.Errorf("pot has no %s configured (pot config %s is empty)", configZFSRoot, configZFSRoot)
	}
	return root, nil
}

// fsRootCache is the pot's fs_root, read once per client: it is pot.conf's
// POT_FS_ROOT, which does not change while pot's pots live under it.
type fsRootCache struct {
	mu   sync.Mutex
	root string
}

// FSRoot returns pot's fs_root (`pot config -g fs_root`, asked once).
func (c *Client) FSRoot(ctx context.Context) (string, error) {
	c.fsRoot.mu.Lock()
	defer c.fsRoot.mu.Unlock()
	if c.fsRoot.root != "" {
		return c.fsRoot.root, nil
	}
	root, err := c.Config(ctx, configFSRoot)
	if err != nil {
		return "", err
	}
	if !filepath.IsAbs(root) {
		return "", fmt.Errorf("pot config %s %q is not an absolute path", configFSRoot, root)
	}
	c.fsRoot.root = root
	return root, nil
}
