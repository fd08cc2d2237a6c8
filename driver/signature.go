package driver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hashicorp/nomad/plugins/drivers"

	"github.com/bsdpot/nomad-pot-driver/hclspec"
	"github.com/bsdpot/nomad-pot-driver/pot"
)

// Signed images. pot checks an image's signature when it imports it (`pot
// prepare -C KEY`), and never again: a start finding the image pot already
// there clones it unchecked, whoever imported it and however. So the
// driver keeps, with every image it imports, a record of what it imported
// (the image's hash, its .skein) and the keys its signature was checked
// with, and a start with a key clones only an image whose record shows
// that key, or whose hash the key's signature on the image server covers.
// An image the driver has no record of is imported again when no pot uses
// it, and refused otherwise.

// imageRecord is what the driver knows of an image pot's origin, kept with
// the image (imageStore.Record) as "hash=HASH keys=ID,ID".
type imageRecord struct {
	// Hash is the content of the .skein the image was imported with.
	Hash string
	// Keys are the IDs (keyID) of the keys its signature was checked with.
	Keys []string
}

func parseImageRecord(v string) imageRecord {
	var r imageRecord
	for _, f := range strings.Fields(v) {
		k, val, _ := strings.Cut(f, "=")
		switch k {
		case "hash":
			r.Hash = val
		case "keys":
			r.Keys = strings.FieldsFunc(val, func(c rune) bool { return c == ',' })
		}
	}
	return r
}

func (r imageRecord) String() string {
	return "hash=" + r.Hash + " keys=" + strings.Join(r.Keys, ",")
}

// keyID names a public key file by its content: the first 16 bytes of its
// SHA-256, hex (a key replaced under the same path is another key).
func keyID(file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16]), nil
}

// planSignature chooses the key the task's image is verified with: the
// task's signature_pubkey (under host_path_allow, resolved), else the
// plugin's default_signature_pubkey; with require_signed_images a task
// with neither fails. allowed is plan's host path check.
func (d *Driver) planSignature(s *hclspec.TaskSettings, p *startPlan, allowed func(key, value, hostPath string) string) error {
	pc := d.pluginConfig()
	key, from := s.SignaturePubkey, "signature_pubkey"
	switch {
	case key != "":
		if key = allowed(from, key, key); key == "" {
			return nil // the host path error is reported with the others
		}
	case pc.DefaultSignaturePubkey != "":
		key, from = pc.DefaultSignaturePubkey, "the pot plugin's default_signature_pubkey"
	case pc.RequireSignedImages:
		return fmt.Errorf("invalid task config: signature_pubkey: required, since the pot plugin's require_signed_images is set and its config has no default_signature_pubkey")
	default:
		return nil
	}
	id, err := keyID(key)
	if err != nil {
		return fmt.Errorf("invalid task config: %s %q: cannot read the public key: %w", from, key, err)
	}
	p.spec.PubKey, p.keyID = key, id
	return nil
}

// checkImageSignature is a signed start's check of an image pot already
// imported. It returns reimport when the image pot was removed so that pot
// imports it again (and checks it).
func (d *Driver) checkImageSignature(ctx context.Context, cfg *drivers.TaskConfig, p *startPlan) (reimport bool, err error) {
	var rec imageRecord
	store, err := d.imageStore(ctx)
	switch {
	case errors.Is(err, errNoImageStore):
		// No record can be kept here: the image pot is taken as one
		// whose check nothing shows.
		store = nil
	case err != nil:
		return false, err
	default:
		v, err := store.Record(ctx, p.image)
		if err != nil {
			return false, fmt.Errorf("reading the record of image pot %s: %w", p.image, err)
		}
		rec = parseImageRecord(v)
	}
	if slices.Contains(rec.Keys, p.keyID) {
		return false, nil
	}
	if rec.Hash == "" {
		// Imported by someone else (or an earlier driver): nothing
		// ties it to a signature. pot refuses to destroy an image
		// other pots are cloned from.
		if err := d.potClient().Destroy(ctx, p.image, false); err != nil {
			return false, fmt.Errorf("image pot %s was not imported by this driver, so nothing shows its signature was checked, and it cannot be imported again to check it: %w", p.image, err)
		}
		d.emit(cfg, fmt.Sprintf("Image pot %s was not imported by this driver and its signature was never checked: importing it again", p.image))
		return true, nil
	}
	dir, err := os.MkdirTemp("", "pot-signature-")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(dir)
	skein, sig, err := pot.FetchSignature(ctx, p.spec.URL, p.spec.Image, p.spec.Tag, dir)
	if err != nil {
		return false, fmt.Errorf("checking the signature of image pot %s, imported before: %w", p.image, err)
	}
	if err := pot.VerifySignature(ctx, p.spec.PubKey, skein, sig); err != nil {
		return false, fmt.Errorf("checking the signature of image pot %s, imported before: %w", p.image, err)
	}
	if h, err := pot.ImageHash(dir, p.spec.Image, p.spec.Tag); err != nil || h != rec.Hash {
		return false, fmt.Errorf("image pot %s was imported from another image than the one %s signs now (its hash differs): destroy the image pot (pot destroy -p %s) to import the signed one", p.image, p.spec.URL, p.image)
	}
	rec.Keys = append(rec.Keys, p.keyID)
	if store == nil {
		return false, nil
	}
	if err := store.SetRecord(ctx, p.image, rec.String()); err != nil {
		d.logger.Warn("cannot keep the image's record", "image", p.image, "error", err)
	}
	return false, nil
}

// recordImport keeps the record of an image the start just imported from
// dir (the staged download, or the image server's folder of a file URL;
// "" when neither: then the record has no hash).
func (d *Driver) recordImport(ctx context.Context, p *startPlan, dir string) {
	if dir == "" {
		if u, err := url.Parse(p.spec.URL); err == nil && u.Scheme == "file" {
			dir = filepath.Clean(u.Path)
		}
	}
	var rec imageRecord
	if dir != "" {
		if h, err := pot.ImageHash(dir, p.spec.Image, p.spec.Tag); err == nil {
			rec.Hash = h
		}
	}
	if p.keyID != "" {
		rec.Keys = []string{p.keyID}
	}
	store, err := d.imageStore(ctx)
	if err == nil {
		err = store.SetRecord(ctx, p.image, rec.String())
	}
	if err != nil {
		d.logger.Warn("cannot keep the record of the image imported", "image", p.image, "error", err)
	}
}
