package pot

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

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
