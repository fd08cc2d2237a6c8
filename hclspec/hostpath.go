package hclspec

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/bsdpot/nomad-pot-driver/pot"
)

// Host paths a job names (mount, mount_read_only, copy) and Nomad's host
// volumes reach the host's file system through pot mount-in and copy-in,
// as root. They are refused unless they lie, once every symbolic link is
// resolved, at or below a folder of the plugin's host_path_allow (itself
// resolved the same way). The default allows nothing.

// checkAllowedPrefix checks a host_path_allow entry: an absolute, clean
// path without "..", not "/" (which would allow the whole host).
func checkAllowedPrefix(p string) error {
	if err := checkAbsClean(p); err != nil {
		return err
	}
	if p == "/" {
		return errors.New("would allow every host path; name the folders jobs may use")
	}
	return nil
}

// checkHostFile checks the path of a host file the driver hands pot (a
// signature key): absolute and clean, and a file's, not "/".
func checkHostFile(p string) error {
	if err := checkAbsClean(p); err != nil {
		return err
	}
	if p == "/" {
		return errors.New("names a folder, not a file")
	}
	return nil
}

func checkAbsClean(p string) error {
	if err := pot.CheckText(p); err != nil {
		return err
	}
	if !filepath.IsAbs(p) {
		return errors.New("must be an absolute path")
	}
	if cl := filepath.Clean(p); cl != p {
		return fmt.Errorf("must be a clean path (%q)", cl)
	}
	if hasDotDot(p) {
		return errors.New("must not contain '..'")
	}
	return nil
}

// hasDotDot reports whether a path has a ".." element.
func hasDotDot(p string) bool {
	for _, el := range strings.Split(p, "/") {
		if el == ".." {
			return true
		}
	}
	return false
}

// PathUnder reports whether p is prefix or lies below it, element by
// element: /mnt/data2 is not under /mnt/data. Both must be absolute and
// clean (filepath.Clean); anything else is not under anything.
func PathUnder(p, prefix string) bool {
	if !filepath.IsAbs(p) || !filepath.IsAbs(prefix) || filepath.Clean(p) != p || filepath.Clean(prefix) != prefix {
		return false
	}
	if prefix == "/" {
		return true
	}
	return p == prefix || strings.HasPrefix(p, prefix+"/")
}

// ErrHostPathNotAllowed is wrapped by every refusal of CheckHostPath.
var ErrHostPathNotAllowed = errors.New("host path not allowed")

// CheckHostPath resolves hostPath (absolute; it must exist) and checks it
// against host_path_allow. It returns the resolved path, which is what the
// driver hands to pot, so a link swapped in after the check is not
// followed by pot. Errors name key and value, like Validate's.
func (c *PluginConfig) CheckHostPath(key, value, hostPath string) (string, error) {
	refuse := func(format string, args ...any) error {
		return fieldErr(key, value, fmt.Errorf("%w: "+format, append([]any{ErrHostPathNotAllowed}, args...)...))
	}
	if err := pot.CheckText(hostPath); err != nil {
		return "", fieldErr(key, value, err)
	}
	if !filepath.IsAbs(hostPath) {
		return "", refuse("%s is not an absolute path", hostPath)
	}
	if c == nil || len(c.HostPathAllow) == 0 {
		return "", refuse("%s: the pot plugin's host_path_allow is empty, so no host path may be used (add the folder, or one above it, to host_path_allow in the client's plugin config)", hostPath)
	}
	resolved, err := filepath.EvalSymlinks(hostPath)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return "", fieldErr(key, value, fmt.Errorf("host path %s: %w", hostPath, err))
	}
	resolved = filepath.Clean(resolved)
	for _, prefix := range c.HostPathAllow {
		if checkAllowedPrefix(prefix) != nil {
			continue
		}
		rp, err := filepath.EvalSymlinks(prefix)
		if err != nil {
			// A folder that does not exist has nothing below it.
			continue
		}
		if PathUnder(resolved, filepath.Clean(rp)) {
			return resolved, nil
		}
	}
	if resolved != hostPath {
		return "", refuse("%s resolves to %s, which is not under the pot plugin's host_path_allow (%s)", hostPath, resolved, strings.Join(c.HostPathAllow, " "))
	}
	return "", refuse("%s is not under the pot plugin's host_path_allow (%s)", hostPath, strings.Join(c.HostPathAllow, " "))
}
