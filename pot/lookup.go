package pot

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// ProgramLookup is what LookupProgram found of a command's program in a
// pot's file system.
type ProgramLookup struct {
	// Program is the program as the command line names it.
	Program string
	// Root is the host folder that is the jail's root.
	Root string
	// Looked are the places looked at: a jail path, followed by
	// " (HOSTPATH)" where a mount-in puts it elsewhere than under Root.
	Looked []string
	// Found: the program exists there as an executable file. Uncertain:
	// it would be on a mount the host cannot see into from here (a ZFS
	// dataset mount-in, read through its own mount point), so nothing can
	// be said.
	Found, Uncertain bool
	// Problem says what is wrong when not Found: "no such file",
	// "not executable", "a directory".
	Problem string
}

// LookupProgram looks for a pot's program (a command line's first word) as
// its jail will see it: in the pot's root (FS_ROOT/jails/NAME/m) with the
// pot's mount-ins (conf/fscomp.conf) over it, symbolic links resolved
// inside the jail, not on the host. A program without a slash is looked for
// in each folder of searchPath, as sh does. fsRoot is pot's fs_root (`pot
// config -g fs_root`). It reads files only; pot's mount-ins need not be
// mounted (after a run pot has unmounted them).
func LookupProgram(fsRoot, name, program string, searchPath []string) (ProgramLookup, error) {
	l := ProgramLookup{Program: program}
	if err := CheckValue(name); err != nil {
		return l, err
	}
	if program == "" {
		return l, errors.New("no program to look for")
	}
	jfs, err := readJailFS(fsRoot, name)
	if err != nil {
		return l, err
	}
	l.Root = jfs.root
	var candidates []string
	if strings.Contains(program, "/") {
		p := program
		if !path.IsAbs(p) {
			// pot start runs the command from the jail's root.
			p = "/" + p
		}
		candidates = []string{path.Clean(p)}
	} else {
		seen := map[string]bool{}
		for _, dir := range searchPath {
			c := path.Join(dir, program)
			if path.IsAbs(dir) && !seen[c] {
				seen[c] = true
				candidates = append(candidates, c)
			}
		}
	}
	for _, c := range candidates {
		host, err := jfs.resolve(c)
		if errors.Is(err, errOnDataset) {
			l.Uncertain = true
			l.Looked = append(l.Looked, c+" (on a ZFS dataset mount)")
			continue
		}
		if err != nil {
			// Where the jail path would be, had every folder on the way
			// been there.
			host, _ = jfs.hostPath(c)
		}
		if host == filepath.Join(jfs.root, filepath.FromSlash(c)) {
			l.Looked = append(l.Looked, c)
		} else {
			l.Looked = append(l.Looked, fmt.Sprintf("%s (%s)", c, host))
		}
		if err != nil {
			if l.Problem == "" {
				l.Problem = "no such file"
			}
			continue
		}
		st, err := os.Stat(host)
		switch {
		case err != nil:
			if l.Problem == "" {
				l.Problem = "no such file"
			}
		case st.IsDir():
			l.Problem = "a directory"
		case st.Mode().Perm()&0o111 == 0:
			l.Problem = "not executable"
		default:
			l.Found, l.Uncertain, l.Problem = true, false, ""
			return l, nil
		}
	}
	if l.Problem == "" {
		l.Problem = "no such file"
	}
	return l, nil
}

// jailFS maps jail paths onto host paths: the pot's root, and its mount-ins
// over it.
type jailFS struct {
	root   string
	mounts []jailMount // longest jail path first
}

type jailMount struct {
	jail, host string
	dataset    bool // a ZFS dataset: its host path is not known here
}

// errOnDataset: the path is on a dataset mount-in.
var errOnDataset = errors.New("on a ZFS dataset mount")

// readJailFS reads the pot's root and mount-ins. fscomp.conf lines are
// "SOURCE JAILPATH [OPTION]": SOURCE an absolute host folder (nullfs) or a
// dataset.
func readJailFS(fsRoot, name string) (*jailFS, error) {
	if !filepath.IsAbs(fsRoot) {
		return nil, fmt.Errorf("pot's fs_root %q is not an absolute path", fsRoot)
	}
	dir := filepath.Join(fsRoot, "jails", name)
	j := &jailFS{root: filepath.Join(dir, "m")}
	if _, err := os.Stat(j.root); err != nil {
		return nil, fmt.Errorf("the pot's root: %w", err)
	}
	f, err := os.Open(filepath.Join(dir, "conf", "fscomp.conf"))
	if errors.Is(err, fs.ErrNotExist) {
		return j, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || !path.IsAbs(fields[1]) {
			continue
		}
		m := jailMount{jail: path.Clean(fields[1]), host: fields[0]}
		m.dataset = !filepath.IsAbs(fields[0])
		j.mounts = append(j.mounts, m)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	// The last mount of a path wins (mounted last); longer paths are
	// mounted over shorter ones.
	for i, k := 0, len(j.mounts)-1; i < k; i, k = i+1, k-1 {
		j.mounts[i], j.mounts[k] = j.mounts[k], j.mounts[i]
	}
	return j, nil
}

// hostPath is the host path of an absolute, clean jail path, through the
// mount-ins.
func (j *jailFS) hostPath(p string) (string, error) {
	best := -1
	for i, m := range j.mounts {
		if (p == m.jail || m.jail == "/" || strings.HasPrefix(p, m.jail+"/")) && (best < 0 || len(m.jail) > len(j.mounts[best].jail)) {
			best = i
		}
	}
	if best < 0 {
		return filepath.Join(j.root, filepath.FromSlash(p)), nil
	}
	m := j.mounts[best]
	if m.dataset {
		return "", errOnDataset
	}
	rest := strings.TrimPrefix(p, m.jail)
	return filepath.Join(m.host, filepath.FromSlash(rest)), nil
}

// maxSymlinks is how many symbolic links resolve follows (FreeBSD's
// MAXSYMLINKS).
const maxSymlinks = 32

// resolve is the host path of jail path p with every symbolic link on the
// way followed inside the jail (an absolute link target is a jail path).
// On an error the host path is where the walk stopped.
func (j *jailFS) resolve(p string) (string, error) {
	done, host, err := j.walk(p, false)
	if err != nil {
		return host, err
	}
	return j.hostPath(done)
}

// mkdirAll makes jail path p a folder, with every folder on the way, as
// `mkdir -p` run in the jail would (symbolic links followed inside the
// jail), and returns p with its links resolved (`realpath` in the jail).
func (j *jailFS) mkdirAll(p string) (string, error) {
	done, _, err := j.walk(p, true)
	if err != nil {
		return "", err
	}
	host, err := j.hostPath(done)
	if err != nil {
		return "", err
	}
	if st, err := os.Stat(host); err != nil || !st.IsDir() {
		return "", fmt.Errorf("%s: Not a directory", p)
	}
	return done, nil
}

// walk follows jail path p one name at a time, symbolic links resolved in
// the jail, and returns the resolved jail path; with create, a missing
// folder on the way is made (0755, as root's mkdir).
func (j *jailFS) walk(p string, create bool) (done, host string, err error) {
	links := 0
	done = "/"
	rest := strings.Split(strings.TrimPrefix(path.Clean(p), "/"), "/")
	for len(rest) > 0 {
		elem := rest[0]
		rest = rest[1:]
		if elem == "" || elem == "." {
			continue
		}
		if elem == ".." {
			done = path.Dir(done)
			continue
		}
		next := path.Join(done, elem)
		host, err = j.hostPath(next)
		if err != nil {
			return "", "", err
		}
		st, err := os.Lstat(host)
		if create && errors.Is(err, fs.ErrNotExist) {
			if err = os.Mkdir(host, 0o755); err == nil {
				done = next
				continue
			}
		}
		if err != nil {
			return "", host, err
		}
		if st.Mode()&fs.ModeSymlink == 0 {
			done = next
			continue
		}
		links++
		if links > maxSymlinks {
			return "", host, fmt.Errorf("%s: too many levels of symbolic links", p)
		}
		target, err := os.Readlink(host)
		if err != nil {
			return "", host, err
		}
		if path.IsAbs(target) {
			done = "/"
		}
		rest = append(strings.Split(target, "/"), rest...)
	}
	return done, host, nil
}

// LookupProgram is the package's LookupProgram for pot name, under pot's
// fs_root (FSRoot).
func (c *Client) LookupProgram(ctx context.Context, name, program string, searchPath []string) (ProgramLookup, error) {
	fsRoot, err := c.FSRoot(ctx)
	if err != nil {
		return ProgramLookup{Program: program}, err
	}
	return LookupProgram(fsRoot, name, program, searchPath)
}
