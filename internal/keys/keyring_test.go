package keys_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/tink-crypto/tink-go/v2/keyset"

	"github.com/tenantkit/tenantkit/internal/keys"
)

const secret = "sk_live_51Hc0ffee9c2d3f9a"

func TestEncryptDecryptRoundTrip(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tenant := uuid.New()
	ad := keys.AD{Integration: uuid.NewString(), Field: "api_key"}
	ct := encrypt(t, b.ring, tenant, ad, secret)
	if strings.Contains(string(ct), secret) {
		t.Fatal("the ciphertext holds the plaintext")
	}
	if string(ct[:3]) != "tk\x01" || binary.BigEndian.Uint32(ct[3:7]) != 1 {
		t.Fatalf("header = %x, want magic tk, format 1, version 1", ct[:7])
	}
	mustDecrypt(t, b.ring, tenant, ad, ct, secret)
	mustDecrypt(t, b.fresh(t), tenant, ad, ct, secret)
	if ks := b.store.snapshot(); len(ks) != 1 || ks[0].KEKID != b.kek.ID() || ks[0].Version != 1 {
		t.Fatalf("stored keys = %+v, want version 1 wrapped by %s", ks, b.kek.ID())
	}
	empty := encrypt(t, b.ring, tenant, ad, "")
	mustDecrypt(t, b.ring, tenant, ad, empty, "")
}

// S1: a ciphertext decrypts only for its tenant, integration and field, and
// not at all once altered.
func TestCiphertextBoundToItsPlace(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	tenant, other := uuid.New(), uuid.New()
	ad := keys.AD{Integration: "0b9f6c6e-integration", Field: "api_key"}
	ct := encrypt(t, b.ring, tenant, ad, secret)
	encrypt(t, b.ring, other, ad, "the other tenant has a key too")
	if _, err := b.ring.RotateDataKey(ctx, tenant); err != nil { // version 2 exists
		t.Fatal(err)
	}
	version := func(v uint32) []byte {
		c := append([]byte(nil), ct...)
		binary.BigEndian.PutUint32(c[3:7], v)
		return c
	}
	flip := func(i int) []byte {
		c := append([]byte(nil), ct...)
		c[i] ^= 0x01
		return c
	}
	tests := []struct {
		name    string
		tenant  uuid.UUID
		ad      keys.AD
		ct      []byte
		wantErr error
	}{
		{"another tenant", other, ad, ct, keys.ErrDecrypt},
		{"a tenant without keys", uuid.New(), ad, ct, keys.ErrKeyDestroyed},
		{"another field", tenant, keys.AD{Integration: ad.Integration, Field: "secret"}, ct, keys.ErrDecrypt},
		{"another integration", tenant, keys.AD{Integration: "another-integration", Field: ad.Field}, ct, keys.ErrDecrypt},
		{"integration and field shifted", tenant, keys.AD{Integration: ad.Integration + "a", Field: "pi_key"}, ct, keys.ErrDecrypt},
		{"a flipped byte in the body", tenant, ad, flip(len(ct) / 2), keys.ErrDecrypt},
		{"a flipped byte in the tag", tenant, ad, flip(len(ct) - 1), keys.ErrDecrypt},
		{"a flipped magic", tenant, ad, flip(0), keys.ErrDecrypt},
		{"another format", tenant, ad, flip(2), keys.ErrDecrypt},
		{"another existing version", tenant, ad, version(2), keys.ErrDecrypt},
		{"a version never created", tenant, ad, version(7), keys.ErrNoKey},
		{"version 0", tenant, ad, version(0), keys.ErrDecrypt},
		{"truncated", tenant, ad, ct[:len(ct)-1], keys.ErrDecrypt},
		{"header only", tenant, ad, ct[:7], keys.ErrDecrypt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pt, err := b.ring.Decrypt(ctx, tt.tenant, tt.ad, tt.ct)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Decrypt = %q, %v; want %v", pt, err, tt.wantErr)
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("the error shows the plaintext: %v", err)
			}
		})
	}
	mustDecrypt(t, b.ring, tenant, ad, ct, secret) // the original still decrypts
}

// A wrapped data key copied to another tenant's row does not unwrap: the
// wrapping binds tenant and version.
func TestWrappedKeyBoundToTenant(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	a, c := uuid.New(), uuid.New()
	ad := keys.AD{Integration: "i", Field: "f"}
	ctA := encrypt(t, b.ring, a, ad, secret)
	var wrappedA keys.WrappedKey
	for _, k := range b.store.snapshot() {
		if k.Tenant == a {
			wrappedA = k
		}
	}
	wrappedA.Tenant = c
	if err := b.store.InsertTenantKey(ctx, wrappedA); err != nil {
		t.Fatal(err)
	}
	_, err := b.fresh(t).Decrypt(ctx, c, ad, ctA)
	if err == nil || !strings.Contains(err.Error(), "unwrap") {
		t.Fatalf("a wrapped key moved to tenant %s: Decrypt error = %v, want an unwrap failure", c, err)
	}
}

// S2: after Shred, the tenant's ciphertexts fail with ErrKeyDestroyed, on
// the Keyring that shredded and on one that never cached the key.
func TestShred(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	tenant, kept := uuid.New(), uuid.New()
	ad := keys.AD{Integration: "i", Field: "password"}
	ct := encrypt(t, b.ring, tenant, ad, secret)
	if _, err := b.ring.RotateDataKey(ctx, tenant); err != nil {
		t.Fatal(err)
	}
	ct2 := encrypt(t, b.ring, tenant, ad, secret)
	keptCT := encrypt(t, b.ring, kept, ad, "kept")
	mustDecrypt(t, b.ring, tenant, ad, ct, secret) // cached now

	if err := b.ring.Shred(ctx, tenant); err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]*keys.Keyring{"same keyring": b.ring, "fresh keyring": b.fresh(t)} {
		for _, c := range [][]byte{ct, ct2} {
			if _, err := r.Decrypt(ctx, tenant, ad, c); !errors.Is(err, keys.ErrKeyDestroyed) {
				t.Errorf("%s: Decrypt after Shred: %v, want ErrKeyDestroyed", name, err)
			}
		}
		mustDecrypt(t, r, kept, ad, keptCT, "kept")
	}
	for _, k := range b.store.snapshot() {
		if k.Tenant == tenant {
			t.Fatalf("a wrapped key of the shredded tenant is still stored: version %d", k.Version)
		}
	}
}

// Another process's Shred reaches a Keyring that cached the key through
// Invalidate.
func TestInvalidateSeesOtherProcessShred(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	tenant := uuid.New()
	ad := keys.AD{Integration: "i", Field: "f"}
	ct := encrypt(t, b.ring, tenant, ad, secret)
	if err := b.fresh(t).Shred(ctx, tenant); err != nil {
		t.Fatal(err)
	}
	mustDecrypt(t, b.ring, tenant, ad, ct, secret) // cached: not yet seen
	b.ring.Invalidate(tenant)
	if _, err := b.ring.Decrypt(ctx, tenant, ad, ct); !errors.Is(err, keys.ErrKeyDestroyed) {
		t.Fatalf("Decrypt after Invalidate: %v, want ErrKeyDestroyed", err)
	}
}

func TestRotateDataKey(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	tenant := uuid.New()
	ad := keys.AD{Integration: "i", Field: "f"}
	v1 := encrypt(t, b.ring, tenant, ad, "one")
	other := b.fresh(t) // another process
	v, err := other.RotateDataKey(ctx, tenant)
	if err != nil || v != 2 {
		t.Fatalf("RotateDataKey = %d, %v; want 2", v, err)
	}
	v2 := encrypt(t, other, tenant, ad, "two")
	if got := binary.BigEndian.Uint32(v2[3:7]); got != 2 {
		t.Fatalf("written after rotation with version %d, want 2", got)
	}
	// b.ring cached version 1 only; it finds version 2 in the Store.
	mustDecrypt(t, b.ring, tenant, ad, v2, "two")
	mustDecrypt(t, b.ring, tenant, ad, v1, "one")
	if v, err := b.ring.RotateDataKey(ctx, tenant); err != nil || v != 3 {
		t.Fatalf("RotateDataKey = %d, %v; want 3", v, err)
	}
	v3 := encrypt(t, b.ring, tenant, ad, "three")
	if got := binary.BigEndian.Uint32(v3[3:7]); got != 3 {
		t.Fatalf("written after rotation with version %d, want 3", got)
	}
	for _, c := range []struct {
		ct   []byte
		want string
	}{{v1, "one"}, {v2, "two"}, {v3, "three"}} {
		mustDecrypt(t, b.fresh(t), tenant, ad, c.ct, c.want)
	}
}

// Concurrent first uses, from one Keyring and from several, end with one
// data key that every ciphertext decrypts under.
func TestConcurrentFirstUseCreatesOneKey(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	tenant := uuid.New()
	ad := keys.AD{Integration: "i", Field: "f"}
	rings := []*keys.Keyring{b.ring, b.fresh(t), newKeyring(t, keys.KeyringConfig{Store: b.store, KEKs: []keys.KEK{b.kek}})}
	const n = 24
	cts := make([][]byte, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ct, err := rings[i%len(rings)].Encrypt(ctx, tenant, ad, []byte(secret))
			if err != nil {
				t.Errorf("Encrypt %d: %v", i, err)
			}
			cts[i] = ct
		})
	}
	wg.Wait()
	if ks := b.store.snapshot(); len(ks) != 1 || ks[0].Version != 1 {
		t.Fatalf("stored keys = %d (%+v), want one, version 1", len(ks), ks)
	}
	for i, ct := range cts {
		if ct != nil {
			mustDecrypt(t, b.fresh(t), tenant, ad, ct, secret)
		} else {
			t.Errorf("ciphertext %d missing", i)
		}
	}
}

// The cache: a second Decrypt does not read the Store; after CacheTTL it
// does again, and after Invalidate too.
func TestCacheTTL(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	tenant := uuid.New()
	ad := keys.AD{Integration: "i", Field: "f"}
	ct := encrypt(t, b.ring, tenant, ad, secret)

	clock := &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	r := newKeyring(t, keys.KeyringConfig{Store: b.store, KEKs: []keys.KEK{b.kek}, CacheTTL: time.Minute, NowFunc: clock.Now})
	reads := func(want int) {
		t.Helper()
		mustDecrypt(t, r, tenant, ad, ct, secret)
		if got := b.store.tenantKeysCalls(); got != want {
			t.Fatalf("Store reads = %d, want %d", got, want)
		}
	}
	base := b.store.tenantKeysCalls()
	reads(base + 1)
	reads(base + 1)
	clock.Advance(59 * time.Second)
	reads(base + 1)
	clock.Advance(time.Second)
	reads(base + 2)
	reads(base + 2)
	r.Invalidate(tenant)
	reads(base + 3)
	if _, err := r.Encrypt(ctx, tenant, ad, []byte("x")); err != nil {
		t.Fatal(err)
	}
	reads(base + 3)
}

func TestNewKeyringValidates(t *testing.T) {
	t.Parallel()
	kek := localKEK(t)
	tests := []struct {
		name string
		cfg  keys.KeyringConfig
		want string
	}{
		{"no store", keys.KeyringConfig{KEKs: []keys.KEK{kek}}, "Store is required"},
		{"no KEK", keys.KeyringConfig{Store: newMemStore()}, "at least one KEK"},
		{"nil KEK", keys.KeyringConfig{Store: newMemStore(), KEKs: []keys.KEK{kek, nil}}, "KEKs[1] is nil"},
		{"duplicate KEK", keys.KeyringConfig{Store: newMemStore(), KEKs: []keys.KEK{kek, kek}}, "listed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := keys.NewKeyring(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewKeyring: %v, want %q", err, tt.want)
			}
		})
	}
}

// A stored key wrapped by a KEK the Keyring does not have fails with
// ErrUnknownKEK, naming the KEK.
func TestUnknownKEK(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tenant := uuid.New()
	ad := keys.AD{Integration: "i", Field: "f"}
	ct := encrypt(t, b.ring, tenant, ad, secret)
	r := newKeyring(t, keys.KeyringConfig{Store: b.store, KEKs: []keys.KEK{localKEK(t)}})
	_, err := r.Decrypt(context.Background(), tenant, ad, ct)
	if !errors.Is(err, keys.ErrUnknownKEK) || !strings.Contains(err.Error(), b.kek.ID()) {
		t.Fatalf("Decrypt: %v, want ErrUnknownKEK naming %s", err, b.kek.ID())
	}
}

// wrapAD is the documented associated data of a wrapped data key.
func wrapAD(tenant uuid.UUID, v int) []byte {
	return binary.BigEndian.AppendUint32(append([]byte("tenantkit/keys/wrap/v1\x00"), tenant[:]...), uint32(v))
}

// Even were two tenants to share one data key (its wrapping re-bound to
// the other tenant by someone holding the KEK), a ciphertext does not move
// between them: the tenant is in the associated data.
func TestCiphertextBoundToTenantUnderOneKey(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	a, c := uuid.New(), uuid.New()
	ad := keys.AD{Integration: "i", Field: "f"}
	ct := encrypt(t, b.ring, a, ad, secret)
	k := b.store.snapshot()[0]
	h, err := keyset.ReadWithAssociatedData(keyset.NewBinaryReader(bytes.NewReader(k.Wrapped)), b.kek.AEAD(), wrapAD(a, 1))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := h.WriteWithAssociatedData(keyset.NewBinaryWriter(&buf), b.kek.AEAD(), wrapAD(c, 1)); err != nil {
		t.Fatal(err)
	}
	k.Tenant, k.Wrapped = c, buf.Bytes()
	if err := b.store.InsertTenantKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	ctC := encrypt(t, b.ring, c, ad, "c's own") // c's key unwraps: the re-binding is right
	mustDecrypt(t, b.fresh(t), c, ad, ctC, "c's own")
	if _, err := b.fresh(t).Decrypt(ctx, c, ad, ct); !errors.Is(err, keys.ErrDecrypt) {
		t.Fatalf("a's ciphertext under c with the same key: %v, want ErrDecrypt", err)
	}
}

// slowRead is a Store whose TenantKeys, once armed, reads and then waits
// to be released before answering: a load in flight.
type slowRead struct {
	*memStore
	armed    atomic.Bool
	read     chan struct{}
	released chan struct{}
}

func (s *slowRead) TenantKeys(ctx context.Context, tenant uuid.UUID) ([]keys.WrappedKey, error) {
	ks, err := s.memStore.TenantKeys(ctx, tenant)
	if s.armed.CompareAndSwap(true, false) {
		close(s.read)
		<-s.released
	}
	return ks, err
}

// An Invalidate that comes while a load is in flight wins: what the load
// read before is not cached, so a shred seen through Invalidate is not
// undone by a load that read the keys just before it.
func TestInvalidateWinsOverLoadInFlight(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	kek := localKEK(t)
	store := &slowRead{memStore: newMemStore(), read: make(chan struct{}), released: make(chan struct{})}
	ring := newKeyring(t, keys.KeyringConfig{Store: store, KEKs: []keys.KEK{kek}})
	tenant := uuid.New()
	ad := keys.AD{Integration: "i", Field: "f"}
	ct := encrypt(t, newKeyring(t, keys.KeyringConfig{Store: store, KEKs: []keys.KEK{kek}}), tenant, ad, secret)

	store.armed.Store(true)
	done := make(chan error, 1)
	go func() {
		_, err := ring.Decrypt(ctx, tenant, ad, ct)
		done <- err
	}()
	<-store.read // the keys are read; the load has not finished
	if err := store.DestroyTenantKeys(ctx, tenant); err != nil {
		t.Fatal(err)
	}
	ring.Invalidate(tenant) // as the bus would, for another process's shred
	close(store.released)
	if err := <-done; err != nil {
		t.Fatalf("the Decrypt in flight: %v (it read the keys before the shred)", err)
	}
	if _, err := ring.Decrypt(ctx, tenant, ad, ct); !errors.Is(err, keys.ErrKeyDestroyed) {
		t.Fatalf("Decrypt after Invalidate: %v, want ErrKeyDestroyed", err)
	}
}
