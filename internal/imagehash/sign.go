package imagehash

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
)

// The tests sign images as an image server's operator does, with signify
// (Debian's signify-openbsd; CI installs it). Here, not in pot: pot's own
// tests use these.

// KeyPair makes a signify key pair NAME.pub, NAME.sec in dir, without a
// passphrase (signify -G -n).
func KeyPair(dir, name string) (pub, sec string, err error) {
	pub, sec = filepath.Join(dir, name+".pub"), filepath.Join(dir, name+".sec")
	return pub, sec, signify("-G", "-n", "-p", pub, "-s", sec)
}

// Sign writes skeinFile's signature with the secret key to skeinFile.sig,
// which pot checks with the public key (signify -V).
func Sign(secKey, skeinFile string) error {
	return signify("-S", "-s", secKey, "-m", skeinFile, "-x", skeinFile+".sig")
}

func signify(args ...string) error {
	var bin string
	for _, n := range []string{"signify-openbsd", "signify"} {
		if p, err := exec.LookPath(n); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		return fmt.Errorf("signing test images needs signify (Debian: apt-get install signify-openbsd; .ci/run installs it)")
	}
	if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("signify %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}
