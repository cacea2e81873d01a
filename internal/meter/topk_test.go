package meter_test

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tenantkit/tenantkit/internal/meter"
)

// labelCall is one LabelFunc call.
type labelCall struct {
	tenant   uuid.UUID
	gen      uint32
	assigned bool
	genSeen  uint32 // the entry's LabelGen during the call
}

// labels records LabelFunc calls and checks them against one another: a
// generation is assigned once, to one entry, and removed at most once,
// after its assignment.
type labels struct {
	mu    sync.Mutex
	calls []labelCall
	live  map[uint32]uuid.UUID
	dead  map[uint32]bool
	errs  []string
}

func newLabels() *labels {
	return &labels{live: make(map[uint32]uuid.UUID), dead: make(map[uint32]bool)}
}

func (l *labels) hook(e *meter.Entry, gen uint32, assigned bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := labelCall{tenant: e.ID(), gen: gen, assigned: assigned, genSeen: e.LabelGen()}
	l.calls = append(l.calls, c)
	switch {
	case gen == 0:
		l.errs = append(l.errs, "generation 0 in a call")
	case assigned && (l.dead[gen] || l.live[gen] != uuid.Nil):
		l.errs = append(l.errs, "generation reused")
	case assigned && c.genSeen != 0:
		l.errs = append(l.errs, "LabelGen reports a generation before LabelFunc saw it")
	case assigned:
		l.live[gen] = e.ID()
	case l.live[gen] != e.ID():
		l.errs = append(l.errs, "removal of a generation the entry does not hold")
	case c.genSeen != 0:
		l.errs = append(l.errs, "LabelGen still reports a removed generation during its removal")
	default:
		delete(l.live, gen)
		l.dead[gen] = true
	}
}

// check fails t when the calls were inconsistent, or when the entries'
// LabelGen do not match the generations assigned and not removed.
func (l *labels) check(t *testing.T, es []*meter.Entry, k int) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.errs) > 0 {
		t.Fatalf("LabelFunc calls inconsistent: %v", l.errs)
	}
	held := 0
	for _, e := range es {
		gen := e.LabelGen()
		if gen == 0 {
			continue
		}
		held++
		if l.live[gen] != e.ID() {
			t.Fatalf("entry %v reports generation %d, LabelFunc saw %v hold it", e.ID(), gen, l.live[gen])
		}
	}
	if held != len(l.live) || held > k {
		t.Fatalf("%d entries hold labels, LabelFunc saw %d, at most %d allowed", held, len(l.live), k)
	}
}

func (l *labels) taken() []labelCall {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.calls
	l.calls = nil
	return c
}

// TestTopKOfManyTenants gives 10,000 tenants distinct loads: the 20
// busiest, and only they, get labels.
func TestTopKOfManyTenants(t *testing.T) {
	t.Parallel()
	lb := newLabels()
	m := newMeter(t, meter.Config{LabelFunc: lb.hook})
	es := make([]*meter.Entry, 10_000)
	for i, id := range tenantIDs(len(es)) {
		es[i] = m.Entry(id)
		for range i%500 + 1 {
			es[i].Request(nov, 0, 0, 0)
		}
	}
	// Make the 20 busiest unambiguous.
	for i := range 20 {
		for range 1000 + i {
			es[i*37].Request(nov, 0, 0, 0)
		}
	}
	m.Tick()
	lb.check(t, es, 20)
	for i, e := range es {
		busiest := i%37 == 0 && i/37 < 20
		if got := e.LabelGen() != 0; got != busiest {
			t.Errorf("tenant %d labelled %v, want %v", i, got, busiest)
		}
	}
	if calls := lb.taken(); len(calls) != 20 {
		t.Fatalf("%d LabelFunc calls, want 20 assignments", len(calls))
	}
}

// TestTopKHysteresis checks that a challenger displaces a holder only with
// more than twice its requests and once it has held for a window, and that
// a holder without requests for a window loses its slot.
func TestTopKHysteresis(t *testing.T) {
	t.Parallel()
	lb := newLabels()
	// Four buckets to a window.
	m := newMeter(t, meter.Config{TopK: 2, Window: 20 * time.Second, LabelFunc: lb.hook})
	ids := tenantIDs(3)
	h1, h2, c := m.Entry(ids[0]), m.Entry(ids[1]), m.Entry(ids[2])
	es := []*meter.Entry{h1, h2, c}
	record := func(e *meter.Entry, n int) {
		for range n {
			e.Request(nov, 0, 0, 0)
		}
	}
	tick := func(n1, n2, nc int) {
		t.Helper()
		record(h1, n1)
		record(h2, n2)
		record(c, nc)
		m.Tick()
		lb.check(t, es, 2)
	}

	tick(120, 50, 10)
	if h1.LabelGen() != 1 || h2.LabelGen() != 2 || c.LabelGen() != 0 {
		t.Fatalf("generations %d %d %d, want 1 2 0", h1.LabelGen(), h2.LabelGen(), c.LabelGen())
	}
	lb.taken()

	// More than twice H2's requests, but H2 has not held for a window.
	for range 3 {
		tick(120, 50, 200)
		if c.LabelGen() != 0 || h2.LabelGen() != 2 {
			t.Fatal("H2 displaced before it held its label for a window")
		}
	}
	tick(120, 50, 200)
	if c.LabelGen() != 3 || h2.LabelGen() != 0 || h1.LabelGen() != 1 {
		t.Fatalf("after a window generations %d %d %d, want 1 0 3", h1.LabelGen(), h2.LabelGen(), c.LabelGen())
	}
	want := []labelCall{{tenant: h2.ID(), gen: 2}, {tenant: c.ID(), gen: 3, assigned: true}}
	if got := lb.taken(); !equalCalls(got, want) {
		t.Fatalf("LabelFunc calls %+v, want %+v", got, want)
	}

	// H2 now challenges C with 1.5 times its requests: never enough.
	for range 12 {
		tick(120, 150, 100)
		if c.LabelGen() != 3 || h2.LabelGen() != 0 {
			t.Fatal("a challenger with 1.5 times the requests displaced a holder")
		}
	}
	// Then with just over twice, once the window holds only that.
	for i := range 4 {
		tick(120, 201, 100)
		if displaced := h2.LabelGen() != 0; displaced != (i == 3) {
			t.Fatalf("after %d ticks at 201 vs 100 displaced = %v", i+1, displaced)
		}
	}
	if h2.LabelGen() != 4 || c.LabelGen() != 0 {
		t.Fatalf("generations %d %d %d, want 1 4 0", h1.LabelGen(), h2.LabelGen(), c.LabelGen())
	}
	lb.taken()

	// H1 goes quiet: it keeps its slot until a whole window has no
	// requests, then the slot goes to C, too weak to have displaced it.
	for i := range 4 {
		tick(0, 201, 10)
		if lost := h1.LabelGen() == 0; lost != (i == 3) {
			t.Fatalf("after %d quiet ticks H1 lost its label = %v", i+1, lost)
		}
	}
	if c.LabelGen() != 5 {
		t.Fatalf("C's generation %d, want 5 for the freed slot", c.LabelGen())
	}
	want = []labelCall{{tenant: h1.ID(), gen: 1}, {tenant: c.ID(), gen: 5, assigned: true}}
	if got := lb.taken(); !equalCalls(got, want) {
		t.Fatalf("LabelFunc calls %+v, want %+v", got, want)
	}
}

func equalCalls(got, want []labelCall) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		g := got[i]
		g.genSeen = 0
		if g != want[i] {
			return false
		}
	}
	return true
}

// TestTopKChurn moves random loads over many tenants and ticks, checking
// after every Tick that LabelFunc's calls and LabelGen agree and that at
// most TopK hold labels, while recorders and LabelGen readers run.
func TestTopKChurn(t *testing.T) {
	t.Parallel()
	lb := newLabels()
	m := newMeter(t, meter.Config{TopK: 5, Window: 10 * time.Second, LabelFunc: lb.hook})
	es := make([]*meter.Entry, 200)
	for i, id := range tenantIDs(len(es)) {
		es[i] = m.Entry(id)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			for _, e := range es {
				_ = e.LabelGen()
			}
		}
	})
	r := rand.New(rand.NewPCG(1, 2))
	for range 300 {
		for range 50 {
			e := es[r.IntN(len(es))]
			for range r.IntN(40) {
				e.Request(nov, 0, 0, 0)
			}
		}
		m.Tick()
		lb.check(t, es, 5)
	}
	close(done)
	wg.Wait()
	if len(lb.dead) == 0 {
		t.Fatal("no label ever changed hands: the churn exercised nothing")
	}
}
