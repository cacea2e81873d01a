package keys

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// LocalConfig configures LocalKEK.
type LocalConfig struct {
	// Path is the keyset file. Defaults to nothing: it is required.
	Path string
	// Create makes LocalKEK create the file, holding one fresh AES256-GCM
	// key, when it is missing. Defaults to false: a missing file is an
	// error, since a KEK that silently appears anew would orphan every data
	// key the lost one wrapped.
	Create bool
}

func (c LocalConfig) validate() error {
	if c.Path == "" {
		return errors.New("local KEK: Path is required")
	}
	return nil
}

// Local is a KEK kept in a local file: a Tink AEAD keyset (AES256-GCM) in
// Tink's JSON keyset format, in cleartext — the file is the key, so it is
// written with mode 0600 and refused when group or others may read or write
// it. It is the default KEK, for development and single-node use; with it,
// whoever reads the file and the database reads every credential.
//
// Its ID is "local:" and the key ID of the keyset's primary key. Rotate adds
// a key and makes it primary; the former keys stay in the keyset and still
// unwrap, so Local is a Holder. A Local asked about a key it does not hold
// re-reads its file, so that a process picks up a rotation done by another
// one (tenantkit keys rotate) without a restart.
type Local struct {
	path  string
	mu    sync.Mutex // serializes re-reads and rotations
	state atomic.Pointer[localState]
}

type localState struct {
	handle *keyset.Handle
	id     string
	aead   tink.AEAD
	ids    map[string]bool
}

// LocalKEK loads the local KEK file at cfg.Path, creating it when it is
// missing and cfg.Create is set.
func LocalKEK(cfg LocalConfig) (*Local, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	l := &Local{path: cfg.Path}
	h, err := readKeysetFile(cfg.Path)
	if errors.Is(err, fs.ErrNotExist) && cfg.Create {
		h, err = createKeysetFile(cfg.Path)
	}
	if err != nil {
		return nil, err
	}
	st, err := newLocalState(h)
	if err != nil {
		return nil, fmt.Errorf("local KEK %s: %w", cfg.Path, err)
	}
	l.state.Store(st)
	return l, nil
}

// ID returns "local:" and the primary key's ID.
func (l *Local) ID() string { return l.state.Load().id }

// AEAD returns the keyset's AEAD: it encrypts with the primary key and
// decrypts with any key of the keyset.
func (l *Local) AEAD() tink.AEAD { return l.state.Load().aead }

// Holds reports whether the keyset holds the key kekID names, re-reading
// the file once when it does not (another process may have rotated it).
func (l *Local) Holds(kekID string) bool {
	if l.state.Load().ids[kekID] {
		return true
	}
	if !strings.HasPrefix(kekID, localPrefix) {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.state.Load().ids[kekID] {
		_ = l.reloadLocked() // a file that cannot be read holds nothing new
	}
	return l.state.Load().ids[kekID]
}

// Rotate adds a fresh AES256-GCM key to the keyset, makes it the primary
// and rewrites the file atomically (a temporary file renamed over it, mode
// 0600). Data keys wrapped before still unwrap; new ones are wrapped by the
// new key, and RewrapAll moves the old ones over. It first re-reads the file
// so as not to drop a key another process added; two processes rotating the
// same file at the same instant are not guarded against.
func (l *Local) Rotate() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.reloadLocked(); err != nil {
		return err
	}
	h, err := rotated(l.state.Load().handle)
	if err != nil {
		return err
	}
	st, err := newLocalState(h)
	if err != nil {
		return fmt.Errorf("rotate local KEK %s: %w", l.path, err)
	}
	if err := writeKeysetFile(l.path, h, true); err != nil {
		return err
	}
	l.state.Store(st)
	return nil
}

// rotated returns h with a fresh AES256-GCM key added as its primary.
func rotated(h *keyset.Handle) (*keyset.Handle, error) {
	m := keyset.NewManagerFromHandle(h)
	id, err := m.Add(aead.AES256GCMKeyTemplate())
	if err != nil {
		return nil, fmt.Errorf("rotate local KEK: %w", err)
	}
	if err := m.SetPrimary(id); err != nil {
		return nil, fmt.Errorf("rotate local KEK: %w", err)
	}
	return m.Handle()
}

// reloadLocked adopts the file's keyset when it still holds every key this
// Local holds; a file that lost keys is refused, since adopting it would
// orphan what they wrapped.
func (l *Local) reloadLocked() error {
	h, err := readKeysetFile(l.path)
	if err != nil {
		return err
	}
	st, err := newLocalState(h)
	if err != nil {
		return fmt.Errorf("local KEK %s: %w", l.path, err)
	}
	for id := range l.state.Load().ids {
		if !st.ids[id] {
			return fmt.Errorf("local KEK %s no longer holds key %s that this process loaded; refusing it", l.path, id)
		}
	}
	l.state.Store(st)
	return nil
}

const localPrefix = "local:"

func localID(keyID uint32) string { return localPrefix + strconv.FormatUint(uint64(keyID), 10) }

func newLocalState(h *keyset.Handle) (*localState, error) {
	a, err := aead.New(h)
	if err != nil {
		return nil, fmt.Errorf("not an AEAD keyset: %w", err)
	}
	primary, err := h.Primary()
	if err != nil {
		return nil, err
	}
	st := &localState{handle: h, id: localID(primary.KeyID()), aead: a, ids: map[string]bool{}}
	for i := range h.Len() {
		e, err := h.Entry(i)
		if err != nil {
			return nil, err
		}
		if e.KeyStatus() == keyset.Enabled {
			st.ids[localID(e.KeyID())] = true
		}
	}
	return st, nil
}

// readKeysetFile reads a cleartext keyset, refusing a file that group or
// others may read or write. It checks the open file, not the path, so the
// check and the read see the same file.
func readKeysetFile(path string) (*keyset.Handle, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("local KEK: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("local KEK: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("local KEK %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %#o; chmod 600 %s", ErrInsecureKeyFile, path, perm, path)
	}
	h, err := insecurecleartextkeyset.Read(keyset.NewJSONReader(f))
	if err != nil {
		return nil, fmt.Errorf("local KEK %s is not a Tink JSON keyset: %w", path, err)
	}
	return h, nil
}

// createKeysetFile creates the file with one fresh key; when another
// process created it first, that file wins and is read.
func createKeysetFile(path string) (*keyset.Handle, error) {
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		return nil, fmt.Errorf("create local KEK: %w", err)
	}
	err = writeKeysetFile(path, h, false)
	if errors.Is(err, fs.ErrExist) {
		return readKeysetFile(path)
	}
	return h, err
}

// writeKeysetFile writes h to a temporary file beside path (mode 0600),
// syncs it, and then renames it over path (replace) or links it to path,
// failing with fs.ErrExist when path exists (create).
func writeKeysetFile(path string, h *keyset.Handle, replace bool) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write local KEK: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a rename, there is nothing left to remove
	err = errors.Join(f.Chmod(0o600), insecurecleartextkeyset.Write(h, keyset.NewJSONWriter(f)), f.Sync())
	if err = errors.Join(err, f.Close()); err != nil {
		return fmt.Errorf("write local KEK %s: %w", tmp, err)
	}
	if replace {
		err = os.Rename(tmp, path)
	} else {
		err = os.Link(tmp, path)
	}
	if err != nil {
		return fmt.Errorf("write local KEK: %w", err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("write local KEK: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("write local KEK: sync %s: %w", dir, err)
	}
	return nil
}
