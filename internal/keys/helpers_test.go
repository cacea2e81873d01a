package keys_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tenantkit/tenantkit/internal/keys"
)

// memStore is an in-memory keys.Store, a test double of the catalog's
// storage (the crypto under test is real). It follows the Store contract
// and counts TenantKeys calls, for the cache tests.
type memStore struct {
	mu         sync.Mutex
	keys       map[uuid.UUID][]keys.WrappedKey // by version, oldest first
	tenantKeys int                             // TenantKeys calls
}

func newMemStore() *memStore { return &memStore{keys: map[uuid.UUID][]keys.WrappedKey{}} }

func clone(k keys.WrappedKey) keys.WrappedKey {
	k.Wrapped = bytes.Clone(k.Wrapped)
	return k
}

func (s *memStore) TenantKeys(_ context.Context, tenant uuid.UUID) ([]keys.WrappedKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tenantKeys++
	out := []keys.WrappedKey{}
	for _, k := range s.keys[tenant] {
		out = append(out, clone(k))
	}
	return out, nil
}

func (s *memStore) InsertTenantKey(_ context.Context, k keys.WrappedKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, have := range s.keys[k.Tenant] {
		if have.Version == k.Version {
			return fmt.Errorf("insert tenant %s version %d: %w", k.Tenant, k.Version, keys.ErrKeyExists)
		}
	}
	ks := append(s.keys[k.Tenant], clone(k))
	slices.SortFunc(ks, func(a, b keys.WrappedKey) int { return a.Version - b.Version })
	s.keys[k.Tenant] = ks
	return nil
}

func (s *memStore) Rewrap(_ context.Context, tenant uuid.UUID, version int, fromKEK, toKEK string, wrapped []byte) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, k := range s.keys[tenant] {
		if k.Version == version && k.KEKID == fromKEK {
			s.keys[tenant][i].KEKID, s.keys[tenant][i].Wrapped = toKEK, bytes.Clone(wrapped)
			return true, nil
		}
	}
	return false, nil
}

func compareRef(a, b keys.WrappedKeyRef) int {
	if c := bytes.Compare(a.Tenant[:], b.Tenant[:]); c != 0 {
		return c
	}
	return a.Version - b.Version
}

func (s *memStore) all() []keys.WrappedKey {
	var out []keys.WrappedKey
	for _, ks := range s.keys {
		for _, k := range ks {
			out = append(out, clone(k))
		}
	}
	slices.SortFunc(out, func(a, b keys.WrappedKey) int { return compareRef(a.Ref(), b.Ref()) })
	return out
}

func (s *memStore) KeysNotWrappedBy(_ context.Context, kekID string, after keys.WrappedKeyRef, limit int) ([]keys.WrappedKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []keys.WrappedKey
	for _, k := range s.all() {
		if k.KEKID != kekID && compareRef(k.Ref(), after) > 0 && len(out) < limit {
			out = append(out, k)
		}
	}
	return out, nil
}

func (s *memStore) CountKeys(_ context.Context, kekID string) (total, wrappedBy int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range s.all() {
		total++
		if k.KEKID == kekID {
			wrappedBy++
		}
	}
	return total, wrappedBy, nil
}

func (s *memStore) DestroyTenantKeys(_ context.Context, tenant uuid.UUID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.keys, tenant)
	return nil
}

// snapshot returns every stored key, in (Tenant, Version) order.
func (s *memStore) snapshot() []keys.WrappedKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.all()
}

func (s *memStore) tenantKeysCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tenantKeys
}

// fakeClock is a NowFunc that moves only when told.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// localKEK creates a local KEK file in a fresh directory.
func localKEK(t testing.TB) *keys.Local {
	t.Helper()
	k, err := keys.LocalKEK(keys.LocalConfig{Path: filepath.Join(t.TempDir(), "kek.json"), Create: true})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newKeyring(t testing.TB, cfg keys.KeyringConfig) *keys.Keyring {
	t.Helper()
	r, err := keys.NewKeyring(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

type bundle struct {
	store *memStore
	kek   *keys.Local
	ring  *keys.Keyring
}

// setup returns a Keyring over a fresh store and local KEK.
func setup(t testing.TB) bundle {
	t.Helper()
	b := bundle{store: newMemStore(), kek: localKEK(t)}
	b.ring = newKeyring(t, keys.KeyringConfig{Store: b.store, KEKs: []keys.KEK{b.kek}})
	return b
}

// fresh returns a Keyring over the same store and KEKs with nothing
// cached, as another process would have.
func (b bundle) fresh(t testing.TB) *keys.Keyring {
	return newKeyring(t, keys.KeyringConfig{Store: b.store, KEKs: []keys.KEK{b.kek}, CacheTTL: -1})
}

func encrypt(t testing.TB, r *keys.Keyring, tenant uuid.UUID, ad keys.AD, plain string) []byte {
	t.Helper()
	ct, err := r.Encrypt(context.Background(), tenant, ad, []byte(plain))
	if err != nil {
		t.Fatal(err)
	}
	return ct
}

func mustDecrypt(t testing.TB, r *keys.Keyring, tenant uuid.UUID, ad keys.AD, ct []byte, want string) {
	t.Helper()
	got, err := r.Decrypt(context.Background(), tenant, ad, ct)
	if err != nil {
		t.Fatalf("decrypt: %v", err)
	}
	if string(got) != want {
		t.Fatalf("decrypt = %q, want %q", got, want)
	}
}
