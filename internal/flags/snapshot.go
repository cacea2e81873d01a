package flags

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/google/uuid"
)

// Snapshot is an immutable set of validated flags with the plan ranks they
// are gated on. It is safe for concurrent use. The zero value and a nil
// *Snapshot hold no flags.
type Snapshot struct {
	flags []compiled // sorted by key
	byKey map[string]*compiled
	// plans holds the plan ranks. Catalogs have a handful of plans, which
	// a scan finds faster than a map.
	plans []planRank
}

type planRank struct {
	name string
	rank int
}

// compiled is a flag with what evaluating it needs precomputed.
type compiled struct {
	flag    Flag
	gated   bool
	minRank int
	// mayOverride is a bit set with a bit, picked by overrideBit, set for
	// each tenant with an override; nil when there are none. At 32 or more
	// bits per override, it tells at least 31 in 32 tenants without one so
	// without hashing their id into the map of overrides.
	mayOverride  []uint64
	overrideMask uint32
	// prefix is the start of the rollout hash input: the cohort and ':'.
	prefix []byte
}

// NewSnapshot validates flags and returns a snapshot of them. planRanks
// gives every plan a tenant may be on its rank, higher being more: a flag
// with MinPlan p is off for plans ranked below p. Every problem found is
// reported, each wrapping ErrInvalidFlag. The snapshot keeps copies, so the
// caller may reuse flags, their Overrides and planRanks.
func NewSnapshot(flags []Flag, planRanks map[string]int) (*Snapshot, error) {
	var errs []error
	if _, ok := planRanks[""]; ok {
		errs = append(errs, errors.New("flags: plan ranks name an empty plan"))
	}
	s := &Snapshot{
		flags: make([]compiled, 0, len(flags)),
		byKey: make(map[string]*compiled, len(flags)),
	}
	for name, rank := range planRanks {
		s.plans = append(s.plans, planRank{name, rank})
	}
	seen := make(map[string]bool, len(flags))
	for i := range flags {
		f := &flags[i]
		if err := f.Validate(planRanks); err != nil {
			errs = append(errs, err)
			continue
		}
		if seen[f.Key] {
			errs = append(errs, fmt.Errorf("%w %q: the key appears twice", ErrInvalidFlag, f.Key))
			continue
		}
		seen[f.Key] = true
		s.flags = append(s.flags, compile(f, planRanks))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	slices.SortFunc(s.flags, func(a, b compiled) int { return cmp.Compare(a.flag.Key, b.flag.Key) })
	for i := range s.flags {
		s.byKey[s.flags[i].flag.Key] = &s.flags[i]
	}
	return s, nil
}

func compile(f *Flag, planRanks map[string]int) compiled {
	c := compiled{flag: *f, gated: f.MinPlan != ""}
	c.flag.Overrides = maps.Clone(f.Overrides)
	c.minRank = planRanks[f.MinPlan]
	if n := len(c.flag.Overrides); n > 0 {
		words := 4
		for words*64 < 32*n {
			words *= 2
		}
		c.mayOverride = make([]uint64, words)
		c.overrideMask = uint32(words*64 - 1)
		for id := range c.flag.Overrides {
			b := overrideBit(id) & c.overrideMask
			c.mayOverride[b>>6] |= 1 << (b & 63)
		}
	}
	c.prefix = append([]byte(f.cohort()), ':')
	return c
}

// Evaluate decides flag key for a tenant on plan. The first rule that
// applies decides:
//
//  1. override: the flag has an override for the tenant; its value.
//  2. kill_switch: the kill switch is on; false.
//  3. plan_gate: the flag has a MinPlan and plan is unknown or ranked
//     below it; false.
//  4. rollout: the tenant's Bucket is below Rollout; true.
//  5. default: Default.
//
// A key the snapshot does not hold gives false with reason flag_not_found.
// Evaluate does not allocate.
func (s *Snapshot) Evaluate(key string, tenant uuid.UUID, plan string) Evaluation {
	if s == nil {
		return Evaluation{Key: key, Reason: ReasonFlagNotFound}
	}
	c, ok := s.byKey[key]
	if !ok {
		return Evaluation{Key: key, Reason: ReasonFlagNotFound}
	}
	if c.mayOverride != nil {
		if b := overrideBit(tenant) & c.overrideMask; c.mayOverride[b>>6]&(1<<(b&63)) != 0 {
			if v, ok := c.flag.Overrides[tenant]; ok {
				return Evaluation{Key: key, Value: v, Reason: ReasonOverride}
			}
		}
	}
	if c.flag.KillSwitch {
		return Evaluation{Key: key, Reason: ReasonKillSwitch}
	}
	if c.gated {
		if r, ok := s.rank(plan); !ok || r < c.minRank {
			return Evaluation{Key: key, Reason: ReasonPlanGate}
		}
	}
	if c.inRollout(tenant) {
		return Evaluation{Key: key, Value: true, Reason: ReasonRollout}
	}
	return Evaluation{Key: key, Value: c.flag.Default, Reason: ReasonDefault}
}

// overrideBit picks a tenant's bit in a mayOverride set from the last four
// bytes of its id, which are random in version 4 and version 7 uuids alike.
func overrideBit(id uuid.UUID) uint32 {
	return binary.LittleEndian.Uint32(id[12:16])
}

// rank returns the rank of plan.
func (s *Snapshot) rank(plan string) (int, bool) {
	for i := range s.plans {
		if s.plans[i].name == plan {
			return s.plans[i].rank, true
		}
	}
	return 0, false
}

func (c *compiled) inRollout(tenant uuid.UUID) bool {
	switch c.flag.Rollout {
	case 0:
		return false
	case MaxRollout:
		return true
	}
	var buf [maxHashInput]byte
	n := copy(buf[:], c.prefix)
	return bucket(&buf, n, tenant) < c.flag.Rollout
}

// EvaluateAll evaluates every flag for a tenant on plan, sorted by key.
func (s *Snapshot) EvaluateAll(tenant uuid.UUID, plan string) []Evaluation {
	if s == nil {
		return nil
	}
	evs := make([]Evaluation, len(s.flags))
	for i := range s.flags {
		evs[i] = s.Evaluate(s.flags[i].flag.Key, tenant, plan)
	}
	return evs
}

// Flags returns copies of the snapshot's flags, sorted by key.
func (s *Snapshot) Flags() []Flag {
	if s == nil {
		return nil
	}
	fs := make([]Flag, len(s.flags))
	for i := range s.flags {
		fs[i] = s.flags[i].copyFlag()
	}
	return fs
}

// Flag returns a copy of the flag named key.
func (s *Snapshot) Flag(key string) (Flag, bool) {
	if s == nil {
		return Flag{}, false
	}
	c, ok := s.byKey[key]
	if !ok {
		return Flag{}, false
	}
	return c.copyFlag(), true
}

func (c *compiled) copyFlag() Flag {
	f := c.flag
	f.Overrides = maps.Clone(f.Overrides)
	return f
}
