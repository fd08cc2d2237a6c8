package pot

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

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
	root, err := c.Config(ctx, "fs_root")
	if err != nil {
		return "", err
	}
	if !filepath.IsAbs(root) {
		return "", fmt.Errorf("pot config fs_root %q is not an absolute path", root)
	}
	c.fsRoot.root = root
	return root, nil
}

// Exists says whether pot name is there, as pot's _is_pot finds it: its
// folder FS_ROOT/jails/NAME with a readable conf/pot.conf (pot also wants
// its ZFS dataset; a pot that lost it is one pot itself refuses to use).
// No pot command runs: a start asks this of its image and its own pot, and
// each pot command is a shell script.
func (c *Client) Exists(ctx context.Context, name string) (bool, error) {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return false, fmt.Errorf("invalid pot name %q", name)
	}
	root, err := c.FSRoot(ctx)
	if err != nil {
		return false, err
	}
	f, err := os.Open(filepath.Join(root, "jails", name, "conf", "pot.conf"))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	f.Close()
	return true, nil
}
