package appmigrate

import (
	"errors"
	"fmt"
	"time"
)

// ErrUnexpectedVersion is reported for a target whose version table records
// a migration the Migrator does not know: the target drifted (migrated by a
// newer release or by hand). Up and Down leave such a target alone.
var ErrUnexpectedVersion = errors.New("appmigrate: target has a migration version unknown to this migration set")

// Result is the outcome of Up or Down on one target.
type Result struct {
	// Target is the target's Key.
	Target string `json:"target"`
	// From is the target's version before the run, To after it. The
	// version is the highest applied migration, 0 when none is.
	From int64 `json:"from"`
	To   int64 `json:"to"`
	// Applied lists the versions applied by Up, in order, or rolled back by
	// Down, newest first. A failed target lists what it completed before
	// the failure.
	Applied []int64 `json:"applied,omitempty"`
	// Duration is how long the target took, including waiting for its lock.
	Duration time.Duration `json:"duration_ns"`
	// Err says why the target failed, "" when it succeeded.
	Err string `json:"error,omitempty"`

	cause error
}

// Cause is the error behind Err, for errors.Is and errors.As; nil when the
// target succeeded.
func (r Result) Cause() error { return r.cause }

// UpToDate reports whether the target succeeded without changing version.
func (r Result) UpToDate() bool { return r.Err == "" && len(r.Applied) == 0 }

// Summary is the outcome of Up or Down across targets.
type Summary struct {
	// Targets holds one Result per target, in the order the targets were
	// given.
	Targets []Result `json:"targets"`
	// Applied counts targets that changed version, Failed targets that
	// failed (whatever they completed first) and UpToDate targets that had
	// nothing to do. They add up to len(Targets).
	Applied  int `json:"applied"`
	Failed   int `json:"failed"`
	UpToDate int `json:"up_to_date"`
	// Duration is how long the whole run took.
	Duration time.Duration `json:"duration_ns"`
}

// Err joins the errors of the failed targets, each prefixed with its Key,
// or returns nil when none failed.
func (s Summary) Err() error {
	var errs []error
	for _, r := range s.Targets {
		if r.cause != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r.Target, r.cause))
		}
	}
	return errors.Join(errs...)
}

// TargetStatus is where one target stands against the migration set.
type TargetStatus struct {
	// Key is the target's Key.
	Key string `json:"target"`
	// Current is the highest applied version, 0 when none is (including a
	// target whose schema or version table does not exist yet).
	Current int64 `json:"current"`
	// Latest is the migration set's highest version.
	Latest int64 `json:"latest"`
	// Pending counts migrations of the set not applied to the target.
	Pending int `json:"pending"`
	// Unexpected is true when the target records versions the set does not
	// know (listed in Unknown): it drifted, for example Current > Latest.
	Unexpected bool    `json:"unexpected"`
	Unknown    []int64 `json:"unknown,omitempty"`
	// Err says why the status could not be read, "" when it was.
	Err string `json:"error,omitempty"`

	cause error
}

// Cause is the error behind Err, nil when the status was read.
func (s TargetStatus) Cause() error { return s.cause }

// Progress is passed to Config.ProgressFunc after each target.
type Progress struct {
	// Done counts targets finished so far, this one included; Total is the
	// number of targets in the run; Failed counts the finished targets that
	// failed.
	Done, Total, Failed int
	// Target is the Key of the target just finished and Err its error, ""
	// when it succeeded.
	Target string
	Err    string
	// Result is the target's outcome in Up and Down, nil in Status.
	Result *Result
	// Status is the target's status in Status, nil in Up and Down.
	Status *TargetStatus
}
