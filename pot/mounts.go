package pot

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// pot's layout of a pot, under fs_root: jails/NAME/conf/pot.conf holds its
// settings (KEY=VALUE lines), conf/fscomp.conf its mounts ("SOURCE
// JAILPATH [OPTION]" lines, mounted by pot start), m/ its root.
func potDir(fsRoot, name string) string { return filepath.Join(fsRoot, "jails", name) }

func potConfFile(fsRoot, name string) string {
	return filepath.Join(potDir(fsRoot, name), "conf", "pot.conf")
}

func fscompFile(fsRoot, name string) string {
	return filepath.Join(potDir(fsRoot, name), "conf", "fscomp.conf")
}

// potTypeSingle is pot.type of a pot whose root is one dataset, as every
// pot prepare clones from an image is.
const potTypeSingle = "single"

// confVar reads KEY from pot.conf as pot's _get_conf_var does (the last
// KEY=VALUE line; "" when there is none).
func confVar(file, key string) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	value := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key+"="); ok {
			value = v
		}
	}
	return value, sc.Err()
}

// mountAll mounts host folders into pot name, which does not run, in one
// step: what `pot mount-in -p NAME -d DIR -m MNT [-r]` does for each,
// without a shell script of 60 to 120 processes per mount. pot's mount-in
// of a folder into a pot that does not run makes the mount point in the
// pot's root (mkdir -p), resolves it in the jail (realpath under chroot)
// and appends "DIR /REALPATH [ro]" to conf/fscomp.conf; pot start mounts
// it. The same refusals: a host folder that is not a folder, or that is
// already mounted into the pot or part of it. A pot of another type than
// single (fscomps of its own under the root) gets pot mount-in itself.
func (c *Client) mountAll(ctx context.Context, name string, mounts []MountOptions) error {
	if len(mounts) == 0 {
		return nil
	}
	for _, m := range mounts {
		if err := m.check(); err != nil {
			return err
		}
	}
	fsRoot, err := c.FSRoot(ctx)
	if err != nil {
		return err
	}
	typ, err := confVar(potConfFile(fsRoot, name), "pot.type")
	if err != nil {
		return fmt.Errorf("pot %s is not valid: %w", name, err)
	}
	if typ != potTypeSingle {
		for _, m := range mounts {
			if err := c.MountIn(ctx, name, m); err != nil {
				return fmt.Errorf("mounting %s at %s: %w", m.HostDir, m.JailPath, err)
			}
		}
		return nil
	}
	jfs, err := readJailFS(fsRoot, name)
	if err != nil {
		return err
	}
	used := map[string]bool{}
	for _, m := range jfs.mounts {
		used[m.host] = true
	}
	own := potDir(fsRoot, name)
	var lines strings.Builder
	for _, m := range mounts {
		dir := strings.TrimSuffix(m.HostDir, "/") // as mount-in's ${OPTARG%/}
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return fmt.Errorf("%s is not a directory", dir)
		}
		if used[dir] || dir == own || strings.HasPrefix(dir, own+"/") {
			return fmt.Errorf("directory %s not valid, already used or already part of the pot", dir)
		}
		real, err := jfs.mkdirAll(m.JailPath)
		if err != nil {
			return fmt.Errorf("the mount point %s is not valid: %w", m.JailPath, err)
		}
		if real == "/" {
			return fmt.Errorf("the mount point %s is the jail's root", m.JailPath)
		}
		lines.WriteString(dir + " " + real)
		if m.ReadOnly {
			lines.WriteString(" ro")
		}
		lines.WriteString("\n")
		used[dir] = true
		// Later mount points are made through this mount, as pot
		// start will mount them (mounted last, found first).
		jfs.mounts = append([]jailMount{{jail: real, host: dir}}, jfs.mounts...)
	}
	f, err := os.OpenFile(fscompFile(fsRoot, name), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(lines.String()); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// PotsMounting lists the pots whose mounts (conf/fscomp.conf) take the
// host folder dir, running or not.
func (c *Client) PotsMounting(ctx context.Context, dir string) ([]string, error) {
	fsRoot, err := c.FSRoot(ctx)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(filepath.Join(fsRoot, "jails"))
	if err != nil {
		return nil, err
	}
	dir = filepath.Clean(dir)
	var out []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		jfs, err := readJailFS(fsRoot, e.Name())
		if err != nil {
			continue // not a pot (any more)
		}
		for _, m := range jfs.mounts {
			if !m.dataset && filepath.Clean(m.host) == dir {
				out = append(out, e.Name())
				break
			}
		}
	}
	return out, nil
}
