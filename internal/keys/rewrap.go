package keys

import (
	"context"
	"fmt"

	"github.com/tink-crypto/tink-go/v2/tink"
)

// Result is what RewrapAll did.
type Result struct {
	// KEKID is the primary KEK the keys were re-wrapped by.
	KEKID string
	// Rewrapped counts the keys re-wrapped.
	Rewrapped int
	// Skipped counts the keys someone else changed between their read and
	// their re-wrap (re-wrapped them, or shredded the tenant): the
	// compare-and-swap left them alone.
	Skipped int
	// Remaining counts the keys still not wrapped by KEKID when the run
	// ended: keys created meanwhile by a process whose primary KEK is
	// still the old one. Run RewrapAll again once every process has the
	// new primary; the old KEK may go when it reports 0.
	Remaining int
}

// RewrapAll re-wraps every data key not wrapped by the primary KEK with it,
// a page at a time, each with a compare-and-swap in the Store. It runs
// online: the data keys themselves do not change, only their wrapping, so
// Encrypt and Decrypt go on throughout, from cached keys or from keys
// unwrapped by either KEK. progress, when not nil, is called after each key
// with how many are done and how many there are to do. It stops at the
// first key that no KEK unwraps (ErrUnknownKEK) or that the Store fails
// on; what it re-wrapped until then stays re-wrapped, and running it again
// resumes.
func (r *Keyring) RewrapAll(ctx context.Context, progress func(done, total int)) (Result, error) {
	kekID, kekAEAD, err := primary(r.keks[0])
	if err != nil {
		return Result{}, err
	}
	res := Result{KEKID: kekID}
	stored, wrappedBy, err := r.store.CountKeys(ctx, kekID)
	if err != nil {
		return res, fmt.Errorf("keys: rewrap: count keys: %w", err)
	}
	todo := stored - wrappedBy
	r.logger.InfoContext(ctx, "re-wrapping tenant data keys", "kek", kekID, "keys", todo)
	var after WrappedKeyRef
	for {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		page, err := r.store.KeysNotWrappedBy(ctx, kekID, after, r.pageSize)
		if err != nil {
			return res, fmt.Errorf("keys: rewrap: list keys not wrapped by %q: %w", kekID, err)
		}
		if len(page) == 0 {
			break
		}
		for _, k := range page {
			swapped, err := r.rewrapOne(ctx, k, kekID, kekAEAD)
			if err != nil {
				return res, err
			}
			if swapped {
				res.Rewrapped++
			} else {
				res.Skipped++
			}
			if progress != nil {
				done := res.Rewrapped + res.Skipped
				progress(done, max(todo, done))
			}
		}
		after = page[len(page)-1].Ref()
	}
	if stored, wrappedBy, err = r.store.CountKeys(ctx, kekID); err != nil {
		return res, fmt.Errorf("keys: rewrap: count keys: %w", err)
	}
	res.Remaining = stored - wrappedBy
	r.logger.InfoContext(ctx, "re-wrapped tenant data keys", "kek", kekID, "rewrapped", res.Rewrapped, "skipped", res.Skipped, "remaining", res.Remaining)
	return res, nil
}

func (r *Keyring) rewrapOne(ctx context.Context, k WrappedKey, kekID string, kekAEAD tink.AEAD) (bool, error) {
	h, err := r.unwrap(k)
	if err != nil {
		return false, err
	}
	wrapped, err := wrap(h, kekAEAD, k.Tenant, k.Version)
	if err != nil {
		return false, err
	}
	swapped, err := r.store.Rewrap(ctx, k.Tenant, k.Version, k.KEKID, kekID, wrapped)
	if err != nil {
		return false, fmt.Errorf("keys: rewrap tenant %s data key version %d: %w", k.Tenant, k.Version, err)
	}
	if !swapped {
		r.logger.InfoContext(ctx, "tenant data key changed during re-wrap; left alone", "tenant", k.Tenant, "version", k.Version)
	}
	return swapped, nil
}
