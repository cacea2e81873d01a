package flags

import (
	"errors"
	"fmt"

	"github.com/google/uuid"
)

// ErrInvalidFlag is wrapped by every error NewSnapshot and Flag.Validate
// return for a flag that cannot be evaluated.
var ErrInvalidFlag = errors.New("flags: invalid flag")

// MaxRollout is a rollout that reaches every tenant: rollouts are counted in
// basis points, so 1 is 0.01 % and MaxRollout is 100 %.
const MaxRollout = 10000

// maxKeyLen bounds keys and seeds, which keeps a flag's hash input on the
// stack.
const maxKeyLen = 100

// Flag is one boolean feature flag.
type Flag struct {
	// Key names the flag: 1 to 100 characters of a-z, 0-9, '.', '_' and
	// '-', starting with a letter or digit.
	Key string
	// Description says what the flag is for. It plays no part in evaluation.
	Description string
	// KillSwitch turns the flag off for every tenant without an override.
	KillSwitch bool
	// Default is the value when no override, kill switch, plan gate or
	// rollout decides.
	Default bool
	// Rollout is the share of tenants, in basis points (0 to MaxRollout),
	// that get true after passing the plan gate.
	Rollout int
	// MinPlan, when set, is the lowest plan that may have the flag: tenants
	// on a plan ranked lower, or on a plan the snapshot does not know, get
	// false.
	MinPlan string
	// Seed picks the rollout cohort; flags with the same seed have the same
	// cohort at the same percentage. It follows the format of Key. Empty
	// means Key.
	Seed string
	// Overrides fixes the value for single tenants, before any other rule.
	Overrides map[uuid.UUID]bool
}

// Validate reports why f cannot be evaluated against planRanks, the rank
// of every known plan (higher is more), or nil when it can.
func (f Flag) Validate(planRanks map[string]int) error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w %q: %s", ErrInvalidFlag, f.Key, fmt.Sprintf(format, args...)))
	}
	if !validKey(f.Key) {
		bad("key must be 1 to %d characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit", maxKeyLen)
	}
	if f.Seed != "" && !validKey(f.Seed) {
		bad("seed %q must be 1 to %d characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit", f.Seed, maxKeyLen)
	}
	if f.Rollout < 0 || f.Rollout > MaxRollout {
		bad("rollout %d is outside 0..%d basis points", f.Rollout, MaxRollout)
	}
	if _, ok := planRanks[f.MinPlan]; f.MinPlan != "" && !ok {
		bad("minimum plan %q is not a known plan", f.MinPlan)
	}
	if _, ok := f.Overrides[uuid.Nil]; ok {
		bad("override for the nil tenant id")
	}
	return errors.Join(errs...)
}

// cohort is the string a flag's rollout hashes.
func (f Flag) cohort() string {
	if f.Seed != "" {
		return f.Seed
	}
	return f.Key
}

// validKey reports whether s matches ^[a-z0-9][a-z0-9._-]{0,99}$.
func validKey(s string) bool {
	if len(s) == 0 || len(s) > maxKeyLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case i > 0 && (c == '.' || c == '_' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// Reason says which rule decided an Evaluation.
type Reason string

// The reasons, in the order Snapshot.Evaluate tries the rules.
const (
	// ReasonOverride: the tenant has an override; its value wins.
	ReasonOverride Reason = "override"
	// ReasonKillSwitch: the kill switch is on; the value is false.
	ReasonKillSwitch Reason = "kill_switch"
	// ReasonPlanGate: the tenant's plan is below MinPlan or unknown; the
	// value is false.
	ReasonPlanGate Reason = "plan_gate"
	// ReasonRollout: the tenant's bucket is below Rollout; the value is true.
	ReasonRollout Reason = "rollout"
	// ReasonDefault: no rule decided; the value is Default.
	ReasonDefault Reason = "default"
	// ReasonFlagNotFound: the snapshot has no flag by that key; the value is
	// false.
	ReasonFlagNotFound Reason = "flag_not_found"
	// ReasonError: the evaluation could not be made (the Provider could not
	// tell the tenant or its plan). Snapshot.Evaluate never returns it.
	ReasonError Reason = "error"
)

// Evaluation is the value of one flag for one tenant and why.
type Evaluation struct {
	Key    string `json:"key"`
	Value  bool   `json:"value"`
	Reason Reason `json:"reason"`
}
