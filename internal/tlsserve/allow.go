package tlsserve

import (
	"context"
	"fmt"
	"sync"

	"github.com/caddyserver/certmagic"
)

// allowList is the in-memory set of hosts allowed on-demand certificates.
type allowList struct {
	mu  sync.RWMutex
	set map[string]struct{}

	// writeMu orders writers: Invalidate, and the swap at the end of a
	// Reload. pending records what Invalidate decided while a Reload's
	// ListFunc ran, so that the older snapshot does not undo it.
	writeMu sync.Mutex
	pending map[string]bool

	reloadMu sync.Mutex // one Reload at a time
}

func (a *allowList) check(name string) error {
	a.mu.RLock()
	_, ok := a.set[name]
	a.mu.RUnlock()
	if !ok {
		return ErrNotAllowed
	}
	return nil
}

func (a *allowList) len() int {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return len(a.set)
}

// put sets whether name is allowed; the caller holds writeMu.
func (a *allowList) put(name string, allowed bool) {
	a.mu.Lock()
	if allowed {
		a.set[name] = struct{}{}
	} else {
		delete(a.set, name)
	}
	a.mu.Unlock()
	if a.pending != nil {
		a.pending[name] = allowed
	}
}

// Reload replaces the allow-list with what Config.ListFunc returns now. On
// error the previous list stays in force.
func (f *Front) Reload(ctx context.Context) error {
	a := &f.allow
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()

	a.writeMu.Lock()
	a.pending = map[string]bool{}
	a.writeMu.Unlock()

	hosts, err := f.cfg.ListFunc(ctx)

	a.writeMu.Lock()
	defer a.writeMu.Unlock()
	pending := a.pending
	a.pending = nil
	if err != nil {
		f.stats.reloadErrors.Add(1)
		return fmt.Errorf("tlsserve: list allowed hosts: %w", err)
	}
	set := f.buildSet(hosts)
	for name, allowed := range pending {
		if allowed {
			set[name] = struct{}{}
		} else {
			delete(set, name)
		}
	}
	a.mu.Lock()
	old := a.set
	a.set = set
	a.mu.Unlock()
	f.stats.reloads.Add(1)
	f.forget(old, set)
	return nil
}

func (f *Front) buildSet(hosts []string) map[string]struct{} {
	set := make(map[string]struct{}, len(hosts))
	for _, h := range hosts {
		name, err := normalize(h)
		if err != nil {
			f.log.Warn("tlsserve: ListFunc returned an invalid host; skipped", "host", h, "error", err)
			continue
		}
		set[name] = struct{}{}
	}
	return set
}

// forget drops from certmagic's memory the certificates of hosts that left
// the list: they would not be served anyway, nor renewed.
func (f *Front) forget(old, now map[string]struct{}) {
	if f.cache == nil {
		return
	}
	var gone []certmagic.SubjectIssuer
	for name := range old {
		if _, ok := now[name]; !ok {
			gone = append(gone, certmagic.SubjectIssuer{Subject: name})
		}
	}
	if len(gone) > 0 {
		f.cache.RemoveManaged(gone)
	}
}

// Invalidate corrects the allow-list for host after its verification, or
// its tenant's state, changed: with Config.AllowedFunc it asks about host
// alone, else it reloads the whole list. It also clears the host's failure
// backoff, so a newly verified host is tried at once.
func (f *Front) Invalidate(ctx context.Context, host string) error {
	name, err := normalize(host)
	if err != nil {
		return fmt.Errorf("tlsserve: invalidate %q: %w", host, err)
	}
	f.backoff.clear(name)
	if f.cfg.AllowedFunc == nil {
		return f.Reload(ctx)
	}
	a := &f.allow
	a.writeMu.Lock()
	defer a.writeMu.Unlock()
	allowed, err := f.cfg.AllowedFunc(ctx, name)
	if err != nil {
		return fmt.Errorf("tlsserve: is %q allowed: %w", name, err)
	}
	a.put(name, allowed)
	if !allowed {
		f.cache.RemoveManaged([]certmagic.SubjectIssuer{{Subject: name}})
	}
	return nil
}
