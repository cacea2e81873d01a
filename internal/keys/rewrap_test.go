package keys_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/tenantkit/tenantkit/internal/keys"
)

type record struct {
	tenant uuid.UUID
	ad     keys.AD
	plain  string
	ct     []byte
}

// load runs bounded concurrent Encrypt and Decrypt calls over rings and
// tenants (goroutines × ops), half writes of new records and half reads of
// records written before it started. Every failure is a test error. It
// closes midway once every goroutine is past a quarter of its ops, and
// returns what it wrote.
type load struct {
	rings      []*keys.Keyring
	tenants    []uuid.UUID
	before     []record
	goroutines int
	ops        int
	midway     chan struct{}
	failures   atomic.Int64
}

func (l *load) run(t *testing.T) []record {
	ctx := context.Background()
	var wg, quarter sync.WaitGroup
	written := make([][]record, l.goroutines)
	quarter.Add(l.goroutines)
	for g := range l.goroutines {
		wg.Go(func() {
			for i := range l.ops {
				if i == l.ops/4 {
					quarter.Done()
				}
				ring := l.rings[(g+i)%len(l.rings)]
				if i%2 == 0 {
					rec := record{tenant: l.tenants[(g*31+i)%len(l.tenants)], ad: keys.AD{Integration: fmt.Sprint("int-", g), Field: fmt.Sprint("f", i)}, plain: fmt.Sprintf("secret %d/%d", g, i)}
					ct, err := ring.Encrypt(ctx, rec.tenant, rec.ad, []byte(rec.plain))
					if err != nil {
						l.failures.Add(1)
						t.Errorf("write %d/%d: %v", g, i, err)
						continue
					}
					rec.ct = ct
					written[g] = append(written[g], rec)
					continue
				}
				rec := l.before[(g*7+i)%len(l.before)]
				if pt, err := ring.Decrypt(ctx, rec.tenant, rec.ad, rec.ct); err != nil || string(pt) != rec.plain {
					l.failures.Add(1)
					t.Errorf("read %d/%d: %q, %v", g, i, pt, err)
				}
			}
		})
	}
	quarter.Wait()
	close(l.midway)
	wg.Wait()
	var all []record
	for _, w := range written {
		all = append(all, w...)
	}
	return all
}

// writeBefore writes two records for each tenant.
func writeBefore(t *testing.T, r *keys.Keyring, tenants []uuid.UUID) []record {
	var recs []record
	for i, tenant := range tenants {
		for j := range 2 {
			rec := record{tenant: tenant, ad: keys.AD{Integration: "before", Field: fmt.Sprint(j)}, plain: fmt.Sprintf("before %d/%d", i, j)}
			rec.ct = encrypt(t, r, tenant, rec.ad, rec.plain)
			recs = append(recs, rec)
		}
	}
	return recs
}

func uuids(n int) []uuid.UUID {
	out := make([]uuid.UUID, n)
	for i := range out {
		out[i] = uuid.New()
	}
	return out
}

// progressLog checks RewrapAll's progress calls as they come.
type progressLog struct {
	t     *testing.T
	mu    sync.Mutex
	calls int
	last  int
}

func (p *progressLog) report(done, total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if done != p.last+1 || done > total {
		p.t.Errorf("progress(%d, %d) after done %d", done, total, p.last)
	}
	p.calls++
	p.last = done
}

func assertAllWrappedBy(t *testing.T, s *memStore, kekID string) {
	t.Helper()
	for _, k := range s.snapshot() {
		if k.KEKID != kekID {
			t.Fatalf("tenant %s key version %d is wrapped by %s, want %s", k.Tenant, k.Version, k.KEKID, kekID)
		}
	}
}

func assertDecrypts(t *testing.T, r *keys.Keyring, recs ...[]record) {
	t.Helper()
	n := 0
	for _, rs := range recs {
		for _, rec := range rs {
			mustDecrypt(t, r, rec.tenant, rec.ad, rec.ct, rec.plain)
			n++
		}
	}
	if n == 0 {
		t.Fatal("nothing to decrypt")
	}
}

// S3, rotation in place: the operator's CLI rotates the local KEK file the
// server also uses and re-wraps everything while the server encrypts and
// decrypts for many tenants, through a caching Keyring and one that caches
// nothing (so unwrapping goes on all along). Nothing fails; at the end every
// key is wrapped by the new primary, and a KEK holding only the new key
// decrypts everything written before and during.
func TestRewrapAllWhileLocalKEKRotates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "kek.json")
	server, err := keys.LocalKEK(keys.LocalConfig{Path: path, Create: true})
	if err != nil {
		t.Fatal(err)
	}
	store := newMemStore()
	cached := newKeyring(t, keys.KeyringConfig{Store: store, KEKs: []keys.KEK{server}})
	uncached := newKeyring(t, keys.KeyringConfig{Store: store, KEKs: []keys.KEK{server}, CacheTTL: -1})
	tenants := uuids(60)
	before := writeBefore(t, cached, tenants[:40]) // 20 tenants get their first key during the load
	oldID := server.ID()

	l := &load{rings: []*keys.Keyring{cached, uncached}, tenants: tenants, before: before, goroutines: 8, ops: 300, midway: make(chan struct{})}
	var res keys.Result
	var rewrapErr error
	var cli *keys.Local
	progress := &progressLog{t: t}
	var wg sync.WaitGroup
	wg.Go(func() {
		<-l.midway
		if cli, rewrapErr = keys.LocalKEK(keys.LocalConfig{Path: path}); rewrapErr != nil {
			return
		}
		if rewrapErr = cli.Rotate(); rewrapErr != nil {
			return
		}
		ring := newKeyring(t, keys.KeyringConfig{Store: store, KEKs: []keys.KEK{cli}, RewrapPageSize: 7})
		res, rewrapErr = ring.RewrapAll(ctx, progress.report)
	})
	during := l.run(t)
	wg.Wait()
	if rewrapErr != nil {
		t.Fatal(rewrapErr)
	}
	if n := l.failures.Load(); n > 0 {
		t.Fatalf("%d reads or writes failed", n)
	}
	if res.KEKID != cli.ID() || res.KEKID == oldID || res.Rewrapped < 40 || res.Skipped != 0 {
		t.Fatalf("RewrapAll = %+v; want at least the 40 keys from before re-wrapped by %s", res, cli.ID())
	}
	if progress.last != res.Rewrapped+res.Skipped {
		t.Fatalf("progress ended at %d, want %d", progress.last, res.Rewrapped+res.Skipped)
	}
	// Keys the server created before it saw the new primary may remain;
	// a second run, as the operator would make, takes them.
	ring := newKeyring(t, keys.KeyringConfig{Store: store, KEKs: []keys.KEK{cli}})
	if res2, err := ring.RewrapAll(ctx, nil); err != nil || res2.Remaining != 0 {
		t.Fatalf("second RewrapAll = %+v, %v; want nothing remaining", res2, err)
	}
	assertAllWrappedBy(t, store, cli.ID())
	if len(store.snapshot()) != 60 {
		t.Fatalf("%d keys stored, want one per tenant", len(store.snapshot()))
	}

	// The server's Keyring, on keys only the new primary wraps, re-reads
	// the file, and takes the new primary for what it wraps next.
	assertDecrypts(t, uncached, before, during)
	if server.ID() != cli.ID() {
		t.Fatalf("server KEK ID = %s, want %s", server.ID(), cli.ID())
	}
	// The old key removed: a KEK holding the new primary only.
	onlyNew := pruned(t, path)
	if onlyNew.ID() != cli.ID() || onlyNew.Holds(oldID) {
		t.Fatalf("pruned KEK %s holds the old key", onlyNew.ID())
	}
	assertDecrypts(t, newKeyring(t, keys.KeyringConfig{Store: store, KEKs: []keys.KEK{onlyNew}, CacheTTL: -1}), before, during)
}

// S3, replacement: moving from one KEK to another (a new local file, or from
// local to Vault), the Keyrings under load list [new, old]; RewrapAll runs
// concurrently; afterwards a Keyring with the new KEK alone decrypts
// everything.
func TestRewrapAllReplacesKEKUnderLoad(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	oldKEK, newKEK := localKEK(t), localKEK(t)
	store := newMemStore()
	tenants := uuids(60)
	before := writeBefore(t, newKeyring(t, keys.KeyringConfig{Store: store, KEKs: []keys.KEK{oldKEK}}), tenants[:40])
	both := []keys.KEK{newKEK, oldKEK}
	cached := newKeyring(t, keys.KeyringConfig{Store: store, KEKs: both})
	uncached := newKeyring(t, keys.KeyringConfig{Store: store, KEKs: both, CacheTTL: -1})
	// The cached Keyring holds every tenant's key before the switch.
	assertDecrypts(t, cached, before)

	l := &load{rings: []*keys.Keyring{cached, uncached}, tenants: tenants, before: before, goroutines: 8, ops: 300, midway: make(chan struct{})}
	var res keys.Result
	var rewrapErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		<-l.midway
		ring := newKeyring(t, keys.KeyringConfig{Store: store, KEKs: both, RewrapPageSize: 5})
		res, rewrapErr = ring.RewrapAll(ctx, nil)
	})
	during := l.run(t)
	wg.Wait()
	if rewrapErr != nil {
		t.Fatal(rewrapErr)
	}
	if n := l.failures.Load(); n > 0 {
		t.Fatalf("%d reads or writes failed", n)
	}
	// Every writer wraps with the new KEK, so one run leaves nothing.
	if res.KEKID != newKEK.ID() || res.Rewrapped != 40 || res.Skipped != 0 || res.Remaining != 0 {
		t.Fatalf("RewrapAll = %+v; want the 40 keys from before re-wrapped by %s, nothing remaining", res, newKEK.ID())
	}
	assertAllWrappedBy(t, store, newKEK.ID())
	onlyNew := newKeyring(t, keys.KeyringConfig{Store: store, KEKs: []keys.KEK{newKEK}, CacheTTL: -1})
	assertDecrypts(t, onlyNew, before, during)
	// And new writes go on with the new KEK alone.
	assertDecrypts(t, onlyNew, []record{{tenant: tenants[0], ad: keys.AD{Integration: "after"}, plain: "after", ct: encrypt(t, onlyNew, tenants[0], keys.AD{Integration: "after"}, "after")}})
}

// shredAfterList is a Store in which a tenant is shredded right after
// RewrapAll lists its key, as by another process between the read and the
// compare-and-swap.
type shredAfterList struct {
	*memStore
	victim uuid.UUID
	once   sync.Once
}

func (s *shredAfterList) KeysNotWrappedBy(ctx context.Context, kekID string, after keys.WrappedKeyRef, limit int) ([]keys.WrappedKey, error) {
	page, err := s.memStore.KeysNotWrappedBy(ctx, kekID, after, limit)
	s.once.Do(func() { err = errors.Join(err, s.DestroyTenantKeys(ctx, s.victim)) })
	return page, err
}

// A key shredded between RewrapAll's read and its compare-and-swap is
// skipped, not brought back.
func TestRewrapAllSkipsKeyShreddedMeanwhile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	oldKEK, newKEK := localKEK(t), localKEK(t)
	store := &shredAfterList{memStore: newMemStore()}
	old := newKeyring(t, keys.KeyringConfig{Store: store, KEKs: []keys.KEK{oldKEK}})
	kept, shredded := uuid.New(), uuid.New()
	store.victim = shredded
	ad := keys.AD{Integration: "i", Field: "f"}
	ct := encrypt(t, old, kept, ad, secret)
	gone := encrypt(t, old, shredded, ad, secret)
	ring := newKeyring(t, keys.KeyringConfig{Store: store, KEKs: []keys.KEK{newKEK, oldKEK}})
	res, err := ring.RewrapAll(ctx, nil)
	if err != nil || res.Rewrapped != 1 || res.Skipped != 1 || res.Remaining != 0 {
		t.Fatalf("RewrapAll = %+v, %v; want 1 re-wrapped, 1 skipped", res, err)
	}
	if ks := store.snapshot(); len(ks) != 1 || ks[0].Tenant != kept || ks[0].KEKID != newKEK.ID() {
		t.Fatalf("stored keys = %+v; want only the kept tenant's, wrapped by the new KEK", ks)
	}
	onlyNew := newKeyring(t, keys.KeyringConfig{Store: store, KEKs: []keys.KEK{newKEK}})
	mustDecrypt(t, onlyNew, kept, ad, ct, secret)
	if _, err := onlyNew.Decrypt(ctx, shredded, ad, gone); !errors.Is(err, keys.ErrKeyDestroyed) {
		t.Fatalf("Decrypt of the shredded tenant: %v, want ErrKeyDestroyed", err)
	}
}

// RewrapAll stops at a key no configured KEK unwraps, naming its KEK.
func TestRewrapAllStopsAtUnknownKEK(t *testing.T) {
	t.Parallel()
	b := setup(t)
	encrypt(t, b.ring, uuid.New(), keys.AD{}, secret)
	other := localKEK(t)
	_, err := newKeyring(t, keys.KeyringConfig{Store: b.store, KEKs: []keys.KEK{other}}).RewrapAll(context.Background(), nil)
	if !errors.Is(err, keys.ErrUnknownKEK) || !strings.Contains(err.Error(), b.kek.ID()) {
		t.Fatalf("RewrapAll: %v, want ErrUnknownKEK naming %s", err, b.kek.ID())
	}
	assertAllWrappedBy(t, b.store, b.kek.ID())
}
