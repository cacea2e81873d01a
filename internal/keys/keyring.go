package keys

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"
	"golang.org/x/sync/singleflight"
)

// KeyringConfig configures NewKeyring.
type KeyringConfig struct {
	// Store persists the wrapped data keys. Defaults to nothing: it is
	// required.
	Store Store
	// KEKs wrap and unwrap data keys. The first is the primary: every new
	// or re-wrapped data key is wrapped by it. To unwrap, the KEK whose ID
	// is the stored key's KEKID is used, or else one that is a Holder of
	// it. After rotating to a new KEK, list it first and the old one after
	// it until RewrapAll reports nothing remaining. Defaults to nothing: at
	// least one is required.
	KEKs []KEK
	// CacheTTL is how long a tenant's unwrapped data keys stay in memory
	// after they are loaded; within it, Encrypt and Decrypt do not touch
	// the Store or the KMS. Another process's Shred or RotateDataKey is
	// seen when Invalidate is called for the tenant or the TTL has passed.
	// A negative value disables the cache. Defaults to 5 minutes.
	CacheTTL time.Duration
	// LoadTimeout bounds one load of a tenant's keys (the Store read and
	// the unwraps). Callers that need the same tenant at once share the
	// load, so it runs under no single caller's cancellation. Defaults to
	// 30 seconds.
	LoadTimeout time.Duration
	// RewrapPageSize is how many keys RewrapAll reads from the Store at a
	// time. Defaults to 100.
	RewrapPageSize int
	// Logger logs the creation, rotation, shredding and re-wrapping of
	// keys, never key material. Defaults to discarding.
	Logger *slog.Logger
	// NowFunc tells the time, for the cache and CreatedAt. Defaults to
	// time.Now.
	NowFunc func() time.Time
}

func (c KeyringConfig) validate() error {
	if c.Store == nil {
		return errors.New("keyring: Store is required")
	}
	if len(c.KEKs) == 0 {
		return errors.New("keyring: at least one KEK is required")
	}
	seen := map[string]bool{}
	for i, k := range c.KEKs {
		if k == nil {
			return fmt.Errorf("keyring: KEKs[%d] is nil", i)
		}
		if seen[k.ID()] {
			return fmt.Errorf("keyring: KEK ID %q is listed twice", k.ID())
		}
		seen[k.ID()] = true
	}
	if c.RewrapPageSize < 0 {
		return errors.New("keyring: RewrapPageSize is negative")
	}
	return nil
}

// Keyring encrypts and decrypts tenants' secrets under their data keys,
// creating, rotating, re-wrapping and destroying those keys. It is safe for
// concurrent use.
type Keyring struct {
	store       Store
	keks        []KEK
	ttl         time.Duration
	loadTimeout time.Duration
	pageSize    int
	logger      *slog.Logger
	now         func() time.Time

	loads singleflight.Group

	mu    sync.RWMutex
	cache map[uuid.UUID]*tenantKeys
	// epoch counts invalidations: a load that began before one is not
	// cached, lest it put back what was just dropped.
	epoch     uint64
	lastSweep time.Time
}

// tenantKeys is a tenant's unwrapped data keys, immutable once built.
type tenantKeys struct {
	aeads          map[int]tink.AEAD
	oldest, latest int // 0 when there are none
	loaded         time.Time
}

// NewKeyring returns a Keyring.
func NewKeyring(cfg KeyringConfig) (*Keyring, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	r := &Keyring{
		store:       cfg.Store,
		keks:        cfg.KEKs,
		ttl:         cfg.CacheTTL,
		loadTimeout: cfg.LoadTimeout,
		pageSize:    cfg.RewrapPageSize,
		logger:      cfg.Logger,
		now:         cfg.NowFunc,
		cache:       map[uuid.UUID]*tenantKeys{},
	}
	if r.ttl == 0 {
		r.ttl = 5 * time.Minute
	}
	if r.loadTimeout == 0 {
		r.loadTimeout = 30 * time.Second
	}
	if r.pageSize == 0 {
		r.pageSize = 100
	}
	if r.logger == nil {
		r.logger = slog.New(slog.DiscardHandler)
	}
	if r.now == nil {
		r.now = time.Now
	}
	return r, nil
}

// AD is what a ciphertext is bound to besides its tenant: the integration
// (its id) and the credential field. Decrypt needs the AD Encrypt was given.
type AD struct {
	Integration string
	Field       string
}

// Encrypt encrypts plaintext under the tenant's latest data key, creating
// version 1 on the tenant's first use; when two callers, in this process or
// others, create it at once, one key results and both use it.
func (r *Keyring) Encrypt(ctx context.Context, tenant uuid.UUID, ad AD, plaintext []byte) ([]byte, error) {
	tk, _, err := r.keysFor(ctx, tenant)
	if err != nil {
		return nil, err
	}
	if tk.latest == 0 {
		if tk, err = r.addVersion(ctx, tenant, tk); err != nil {
			return nil, err
		}
	}
	out := make([]byte, headerLen, headerLen+len(plaintext)+64)
	putHeader(out, tk.latest)
	ct, err := tk.aeads[tk.latest].Encrypt(plaintext, associatedData(out, tenant, ad))
	if err != nil {
		return nil, fmt.Errorf("keys: encrypt for tenant %s: %w", tenant, err)
	}
	return append(out, ct...), nil
}

// Decrypt decrypts what Encrypt returned for the same tenant and AD, with
// the data key version its header names. It returns an error wrapping
// ErrDecrypt when the ciphertext was altered or belongs elsewhere,
// ErrKeyDestroyed when its key was shredded, ErrNoKey when its version is
// unknown.
func (r *Keyring) Decrypt(ctx context.Context, tenant uuid.UUID, ad AD, ciphertext []byte) ([]byte, error) {
	v, ok := parseHeader(ciphertext)
	if !ok {
		return nil, fmt.Errorf("%w: tenant %s: not a tenantkit ciphertext", ErrDecrypt, tenant)
	}
	tk, fresh, err := r.keysFor(ctx, tenant)
	if err != nil {
		return nil, err
	}
	if tk.aeads[v] == nil && !fresh {
		// Another process may have rotated the tenant's key since.
		if tk, err = r.load(ctx, tenant); err != nil {
			return nil, err
		}
	}
	a := tk.aeads[v]
	if a == nil {
		return nil, tk.missing(tenant, v)
	}
	pt, err := a.Decrypt(ciphertext[headerLen:], associatedData(ciphertext[:headerLen], tenant, ad))
	if err != nil {
		return nil, fmt.Errorf("%w: tenant %s, data key version %d", ErrDecrypt, tenant, v)
	}
	return pt, nil
}

func (tk *tenantKeys) missing(tenant uuid.UUID, v int) error {
	if tk.latest == 0 || v < tk.oldest {
		return fmt.Errorf("%w: tenant %s, data key version %d", ErrKeyDestroyed, tenant, v)
	}
	return fmt.Errorf("%w: tenant %s has no data key version %d", ErrNoKey, tenant, v)
}

// RotateDataKey creates the tenant's next data key version and returns it;
// Encrypt uses it from then on (in other processes once they reload), and
// older versions keep decrypting. When another caller rotates at the same
// time, one new version results and both return it.
func (r *Keyring) RotateDataKey(ctx context.Context, tenant uuid.UUID) (int, error) {
	tk, err := r.load(ctx, tenant)
	if err != nil {
		return 0, err
	}
	if tk, err = r.addVersion(ctx, tenant, tk); err != nil {
		return 0, err
	}
	r.logger.InfoContext(ctx, "tenant data key rotated", "tenant", tenant, "version", tk.latest)
	return tk.latest, nil
}

// Shred destroys the tenant's data keys in the Store and drops them from
// this Keyring's memory: every ciphertext of the tenant then fails to
// decrypt with ErrKeyDestroyed (crypto-shredding). Other processes stop
// decrypting when told through Invalidate, or within CacheTTL. A later
// Encrypt for the tenant starts a new version 1, under which the
// ciphertexts from before fail with ErrDecrypt instead.
func (r *Keyring) Shred(ctx context.Context, tenant uuid.UUID) error {
	if err := r.store.DestroyTenantKeys(ctx, tenant); err != nil {
		return fmt.Errorf("keys: shred tenant %s: %w", tenant, err)
	}
	r.Invalidate(tenant)
	r.logger.InfoContext(ctx, "tenant data keys destroyed", "tenant", tenant)
	return nil
}

// Invalidate drops the tenant's keys from memory, so that the next use
// reads the Store; wire it to the invalidation bus for other processes'
// shreds and rotations.
func (r *Keyring) Invalidate(tenant uuid.UUID) {
	r.mu.Lock()
	delete(r.cache, tenant)
	r.epoch++
	r.mu.Unlock()
}

// keysFor returns the tenant's keys from the cache, or loaded (fresh).
func (r *Keyring) keysFor(ctx context.Context, tenant uuid.UUID) (tk *tenantKeys, fresh bool, err error) {
	if tk := r.cached(tenant); tk != nil {
		return tk, false, nil
	}
	tk, err = r.load(ctx, tenant)
	return tk, true, err
}

func (r *Keyring) cached(tenant uuid.UUID) *tenantKeys {
	r.mu.RLock()
	tk := r.cache[tenant]
	r.mu.RUnlock()
	if tk == nil || !r.fresh(tk) {
		return nil
	}
	return tk
}

func (r *Keyring) fresh(tk *tenantKeys) bool { return r.now().Sub(tk.loaded) < r.ttl }

// load reads and unwraps the tenant's keys, once for all concurrent callers,
// and caches them.
func (r *Keyring) load(ctx context.Context, tenant uuid.UUID) (*tenantKeys, error) {
	epoch := r.currentEpoch()
	ch := r.loads.DoChan(fmt.Sprintf("%s/%d", tenant, epoch), func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.loadTimeout)
		defer cancel()
		tk, err := r.fetch(ctx, tenant)
		if err == nil {
			r.put(tenant, tk, epoch)
		}
		return tk, err
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(*tenantKeys), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (r *Keyring) currentEpoch() uint64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.epoch
}

// put caches tk unless the cache is off or an invalidation came since the
// load began; once a TTL it also sweeps out expired tenants, so that
// tenants no longer used do not stay in memory.
func (r *Keyring) put(tenant uuid.UUID, tk *tenantKeys, epoch uint64) {
	if r.ttl < 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.epoch != epoch {
		return
	}
	r.cache[tenant] = tk
	if now := r.now(); now.Sub(r.lastSweep) >= r.ttl {
		r.lastSweep = now
		for t, old := range r.cache {
			if !r.fresh(old) {
				delete(r.cache, t)
			}
		}
	}
}

func (r *Keyring) fetch(ctx context.Context, tenant uuid.UUID) (*tenantKeys, error) {
	stored, err := r.store.TenantKeys(ctx, tenant)
	if err != nil {
		return nil, fmt.Errorf("keys: load tenant %s keys: %w", tenant, err)
	}
	tk := &tenantKeys{aeads: make(map[int]tink.AEAD, len(stored)), loaded: r.now()}
	for _, k := range stored {
		h, err := r.unwrap(k)
		if err != nil {
			return nil, err
		}
		a, err := aead.New(h)
		if err != nil {
			return nil, fmt.Errorf("keys: tenant %s data key version %d: %w", tenant, k.Version, err)
		}
		tk = tk.with(k.Version, a)
	}
	return tk, nil
}

// with returns a copy of tk holding a as version v too.
func (tk *tenantKeys) with(v int, a tink.AEAD) *tenantKeys {
	n := &tenantKeys{aeads: make(map[int]tink.AEAD, len(tk.aeads)+1), oldest: tk.oldest, latest: max(tk.latest, v), loaded: tk.loaded}
	for ver, old := range tk.aeads {
		n.aeads[ver] = old
	}
	n.aeads[v] = a
	if n.oldest == 0 || v < n.oldest {
		n.oldest = v
	}
	return n
}

// addVersion creates the version after tk's latest and returns tk with it;
// when another creator stored that version first, it returns the keys
// reloaded instead, theirs included.
func (r *Keyring) addVersion(ctx context.Context, tenant uuid.UUID, tk *tenantKeys) (*tenantKeys, error) {
	epoch := r.currentEpoch()
	v := tk.latest + 1
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		return nil, fmt.Errorf("keys: new data key: %w", err)
	}
	a, err := aead.New(h)
	if err != nil {
		return nil, fmt.Errorf("keys: new data key: %w", err)
	}
	kekID, kekAEAD, err := primary(r.keks[0])
	if err != nil {
		return nil, err
	}
	wrapped, err := wrap(h, kekAEAD, tenant, v)
	if err != nil {
		return nil, err
	}
	err = r.store.InsertTenantKey(ctx, WrappedKey{Tenant: tenant, Version: v, KEKID: kekID, Wrapped: wrapped, CreatedAt: r.now().UTC()})
	if errors.Is(err, ErrKeyExists) {
		return r.reloadAfterRace(ctx, tenant, v)
	}
	if err != nil {
		return nil, fmt.Errorf("keys: store tenant %s data key version %d: %w", tenant, v, err)
	}
	r.logger.InfoContext(ctx, "tenant data key created", "tenant", tenant, "version", v, "kek", kekID)
	tk = tk.with(v, a)
	tk.loaded = r.now()
	r.put(tenant, tk, epoch)
	return tk, nil
}

func (r *Keyring) reloadAfterRace(ctx context.Context, tenant uuid.UUID, v int) (*tenantKeys, error) {
	r.Invalidate(tenant)
	tk, err := r.load(ctx, tenant)
	if err != nil {
		return nil, err
	}
	if tk.latest < v {
		return nil, fmt.Errorf("keys: tenant %s data key version %d exists yet does not load", tenant, v)
	}
	return tk, nil
}

// primary returns the KEK's ID and the AEAD that goes with it: a KEK that
// rotates in place (Local) could change between the two calls, so the ID is
// read on both sides of the AEAD, and IDs never repeat.
func primary(k KEK) (string, tink.AEAD, error) {
	for range 8 {
		id := k.ID()
		a := k.AEAD()
		if k.ID() == id {
			return id, a, nil
		}
	}
	return "", nil, fmt.Errorf("keys: KEK %s keeps changing", k.ID())
}

func (r *Keyring) kekFor(kekID string) KEK {
	for _, k := range r.keks {
		if k.ID() == kekID {
			return k
		}
	}
	for _, k := range r.keks {
		if h, ok := k.(Holder); ok && h.Holds(kekID) {
			return k
		}
	}
	return nil
}

func (r *Keyring) unwrap(k WrappedKey) (*keyset.Handle, error) {
	kek := r.kekFor(k.KEKID)
	if kek == nil {
		return nil, fmt.Errorf("%w: tenant %s data key version %d is wrapped by %q", ErrUnknownKEK, k.Tenant, k.Version, k.KEKID)
	}
	r2 := keyset.NewBinaryReader(bytes.NewReader(k.Wrapped))
	h, err := keyset.ReadWithAssociatedData(r2, kek.AEAD(), wrapAD(k.Tenant, k.Version))
	if err != nil {
		return nil, fmt.Errorf("keys: unwrap tenant %s data key version %d with KEK %q: %w", k.Tenant, k.Version, k.KEKID, err)
	}
	return h, nil
}

func wrap(h *keyset.Handle, kek tink.AEAD, tenant uuid.UUID, v int) ([]byte, error) {
	var buf bytes.Buffer
	if err := h.WriteWithAssociatedData(keyset.NewBinaryWriter(&buf), kek, wrapAD(tenant, v)); err != nil {
		return nil, fmt.Errorf("keys: wrap tenant %s data key version %d: %w", tenant, v, err)
	}
	return buf.Bytes(), nil
}

// wrapAD binds a wrapped data key to its tenant and version, so that a
// wrapped key moved to another tenant's row or version does not unwrap.
func wrapAD(tenant uuid.UUID, v int) []byte {
	ad := make([]byte, 0, len(wrapLabel)+16+4)
	ad = append(ad, wrapLabel...)
	ad = append(ad, tenant[:]...)
	return binary.BigEndian.AppendUint32(ad, uint32(v))
}

const wrapLabel = "tenantkit/keys/wrap/v1\x00"

// The ciphertext header: magic, format version, data key version.
const (
	magic     = "tk"
	formatV1  = 1
	headerLen = len(magic) + 1 + 4
)

func putHeader(b []byte, v int) {
	copy(b, magic)
	b[len(magic)] = formatV1
	binary.BigEndian.PutUint32(b[len(magic)+1:], uint32(v))
}

func parseHeader(b []byte) (int, bool) {
	if len(b) <= headerLen || string(b[:len(magic)]) != magic || b[len(magic)] != formatV1 {
		return 0, false
	}
	v := binary.BigEndian.Uint32(b[len(magic)+1:])
	return int(v), v > 0 && v <= maxVersion
}

const maxVersion = 1<<31 - 1

// associatedData is what Tink authenticates with a secret: the header (so
// its version cannot be swapped), the tenant, and the length-prefixed
// integration and field, so that neither can be shifted into the other.
func associatedData(header []byte, tenant uuid.UUID, ad AD) []byte {
	b := make([]byte, 0, headerLen+16+2*binary.MaxVarintLen64+len(ad.Integration)+len(ad.Field))
	b = append(b, header[:headerLen]...)
	b = append(b, tenant[:]...)
	b = binary.AppendUvarint(b, uint64(len(ad.Integration)))
	b = append(b, ad.Integration...)
	b = binary.AppendUvarint(b, uint64(len(ad.Field)))
	return append(b, ad.Field...)
}
