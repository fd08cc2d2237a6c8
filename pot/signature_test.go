package pot

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bsdpot/nomad-pot-driver/internal/imagehash"
)

// TestVerifySignature: a signature checks against its key only, over its
// .skein only; the .skein and .skein.sig come from http and file servers.
func TestVerifySignature(t *testing.T) {
	srvDir, keys := t.TempDir(), t.TempDir()
	pub, sec, err := imagehash.KeyPair(keys, "k")
	if err != nil {
		t.Fatal(err)
	}
	otherPub, _, err := imagehash.KeyPair(keys, "o")
	if err != nil {
		t.Fatal(err)
	}
	skein := filepath.Join(srvDir, ImageFile("img", "1.0")+".skein")
	hash := strings.Repeat("ab", 128)
	if err := os.WriteFile(skein, []byte(hash+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := imagehash.Sign(sec, skein); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(srvDir)))
	defer srv.Close()
	ctx := context.Background()

	for _, base := range []string{srv.URL, "file://" + srvDir} {
		dir := t.TempDir()
		gotSkein, gotSig, err := FetchSignature(ctx, base, "img", "1.0", dir)
		if err != nil {
			t.Fatalf("%s: %v", base, err)
		}
		if err := VerifySignature(ctx, pub, gotSkein, gotSig); err != nil {
			t.Errorf("%s: the right key: %v", base, err)
		}
		if err := VerifySignature(ctx, otherPub, gotSkein, gotSig); err == nil || !strings.Contains(err.Error(), "Signature verification failed") {
			t.Errorf("%s: another key: %v", base, err)
		}
		if h, err := ImageHash(dir, "img", "1.0"); err != nil || h != hash {
			t.Errorf("%s: ImageHash %q %v", base, h, err)
		}
		if err := os.WriteFile(gotSkein, []byte(strings.Repeat("cd", 128)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := VerifySignature(ctx, pub, gotSkein, gotSig); err == nil {
			t.Errorf("%s: a changed .skein verified", base)
		}
	}
	if _, _, err := FetchSignature(ctx, srv.URL, "unsigned", "1.0", t.TempDir()); err == nil {
		t.Error("an image without .skein fetched a signature")
	}
	if _, _, err := FetchSignature(ctx, "file://"+srvDir, "unsigned", "1.0", t.TempDir()); err == nil {
		t.Error("an image without .skein fetched a signature from a file URL")
	}
	if err := VerifySignature(ctx, "k.pub", skein, skein+".sig"); err == nil {
		t.Error("a relative key path was run")
	}
}
