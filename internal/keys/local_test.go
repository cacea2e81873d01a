package keys_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/keyset"

	"github.com/tenantkit/tenantkit/internal/keys"
)

func TestLocalKEKCreatedWithMode0600(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "kek.json")
	k, err := keys.LocalKEK(keys.LocalConfig{Path: path, Create: true})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode = %#o, want 0600", fi.Mode().Perm())
	}
	if !strings.HasPrefix(k.ID(), "local:") {
		t.Fatalf("ID = %q", k.ID())
	}
	again, err := keys.LocalKEK(keys.LocalConfig{Path: path, Create: true})
	if err != nil || again.ID() != k.ID() {
		t.Fatalf("reloaded: %v, ID %q; want the same key %q", err, again.ID(), k.ID())
	}
	ct, err := k.AEAD().Encrypt([]byte("x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := again.AEAD().Decrypt(ct, nil); err != nil || string(pt) != "x" {
		t.Fatalf("the reloaded key does not decrypt: %v", err)
	}
	if matches, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*tmp*")); len(matches) > 0 {
		t.Fatalf("temporary files left: %v", matches)
	}
}

func TestLocalKEKMissingWithoutCreate(t *testing.T) {
	t.Parallel()
	_, err := keys.LocalKEK(keys.LocalConfig{Path: filepath.Join(t.TempDir(), "kek.json")})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LocalKEK of a missing file: %v, want ErrNotExist", err)
	}
	if _, err := keys.LocalKEK(keys.LocalConfig{}); err == nil {
		t.Fatal("LocalKEK without a Path succeeded")
	}
}

func TestLocalKEKRefusesOpenFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "kek.json")
	if _, err := keys.LocalKEK(keys.LocalConfig{Path: path, Create: true}); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o620} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := keys.LocalKEK(keys.LocalConfig{Path: path, Create: true})
		if !errors.Is(err, keys.ErrInsecureKeyFile) || !strings.Contains(err.Error(), "chmod 600") {
			t.Fatalf("mode %#o: LocalKEK: %v, want ErrInsecureKeyFile saying chmod 600", mode, err)
		}
	}
	if err := os.Chmod(path, 0o400); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.LocalKEK(keys.LocalConfig{Path: path}); err != nil {
		t.Fatalf("mode 0400: %v", err)
	}
}

func TestLocalKEKRotate(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "kek.json")
	kek, err := keys.LocalKEK(keys.LocalConfig{Path: path, Create: true})
	if err != nil {
		t.Fatal(err)
	}
	store := newMemStore()
	ring := newKeyring(t, keys.KeyringConfig{Store: store, KEKs: []keys.KEK{kek}})
	tenant := uuid.New()
	ad := keys.AD{Integration: "i", Field: "f"}
	ct := encrypt(t, ring, tenant, ad, secret)
	rawCT, err := kek.AEAD().Encrypt([]byte("raw"), []byte("ad"))
	if err != nil {
		t.Fatal(err)
	}
	oldID := kek.ID()

	if err := kek.Rotate(); err != nil {
		t.Fatal(err)
	}
	if kek.ID() == oldID {
		t.Fatal("Rotate kept the ID")
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("after Rotate: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
	if !kek.Holds(oldID) || !kek.Holds(kek.ID()) || kek.Holds("local:1") {
		t.Fatal("Holds: want the old and new IDs only")
	}
	if pt, err := kek.AEAD().Decrypt(rawCT, []byte("ad")); err != nil || string(pt) != "raw" {
		t.Fatalf("the rotated KEK does not decrypt what the old primary encrypted: %v", err)
	}
	reloaded, err := keys.LocalKEK(keys.LocalConfig{Path: path})
	if err != nil || reloaded.ID() != kek.ID() {
		t.Fatalf("reloaded after Rotate: %v, ID %q, want %q", err, reloaded.ID(), kek.ID())
	}
	fresh := newKeyring(t, keys.KeyringConfig{Store: store, KEKs: []keys.KEK{reloaded}, CacheTTL: -1})
	mustDecrypt(t, fresh, tenant, ad, ct, secret)
	newTenant := uuid.New()
	encrypt(t, fresh, newTenant, ad, secret)
	for _, k := range store.snapshot() {
		if want := map[uuid.UUID]string{tenant: oldID, newTenant: kek.ID()}[k.Tenant]; k.KEKID != want {
			t.Fatalf("tenant %s key wrapped by %s, want %s", k.Tenant, k.KEKID, want)
		}
	}
}

// A process whose Local was loaded before another process rotated the file
// unwraps keys wrapped by the new primary, re-reading the file, and wraps
// new keys with it from then on.
func TestLocalKEKSeesOtherProcessRotation(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "kek.json")
	server, err := keys.LocalKEK(keys.LocalConfig{Path: path, Create: true})
	if err != nil {
		t.Fatal(err)
	}
	cli, err := keys.LocalKEK(keys.LocalConfig{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	if err := cli.Rotate(); err != nil {
		t.Fatal(err)
	}
	store := newMemStore()
	tenant := uuid.New()
	ad := keys.AD{Integration: "i", Field: "f"}
	ct := encrypt(t, newKeyring(t, keys.KeyringConfig{Store: store, KEKs: []keys.KEK{cli}}), tenant, ad, secret)
	if server.ID() == cli.ID() {
		t.Fatal("the server saw the rotation before needing it")
	}
	mustDecrypt(t, newKeyring(t, keys.KeyringConfig{Store: store, KEKs: []keys.KEK{server}}), tenant, ad, ct, secret)
	if server.ID() != cli.ID() {
		t.Fatalf("server ID = %s after re-reading, want the new primary %s", server.ID(), cli.ID())
	}
}

// pruned writes a copy of the local KEK file at path holding its primary
// key only, and loads it: a KEK without the former keys.
func pruned(t *testing.T, path string) *keys.Local {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, err := insecurecleartextkeyset.Read(keyset.NewJSONReader(f))
	if err != nil {
		t.Fatal(err)
	}
	m := keyset.NewManagerFromHandle(h)
	for i := range h.Len() {
		e, err := h.Entry(i)
		if err != nil {
			t.Fatal(err)
		}
		if !e.IsPrimary() {
			if err := m.Delete(e.KeyID()); err != nil {
				t.Fatal(err)
			}
		}
	}
	h, err = m.Handle()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "pruned.json")
	w, err := os.OpenFile(out, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := insecurecleartextkeyset.Write(h, keyset.NewJSONWriter(w)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	k, err := keys.LocalKEK(keys.LocalConfig{Path: out})
	if err != nil {
		t.Fatal(err)
	}
	if h.Len() != 1 {
		t.Fatalf("pruned keyset holds %d keys", h.Len())
	}
	return k
}
