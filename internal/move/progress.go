package move

// Progress is what a move reports while it runs: the copy per table, the
// stream's position and lag, the verification and the cutover's pause. It
// is stored with the move in the catalog and served as is by the API.
type Progress struct {
	Tables []TableProgress `json:"tables"`
	// AppliedLSN is the last source position applied to the target.
	AppliedLSN string `json:"applied_lsn,omitempty"`
	// SourceLSN is the source's WAL position when the lag was measured.
	SourceLSN string `json:"source_lsn,omitempty"`
	// LagBytes and LagSeconds are how far the target is behind the source.
	LagBytes   int64   `json:"lag_bytes"`
	LagSeconds float64 `json:"lag_seconds"`
	// Changes is how many row changes the stream applied.
	Changes int64 `json:"changes"`
	// Verified lists each table's count and hash on both sides.
	Verified []TableCheck `json:"verified,omitempty"`
	// PauseMillis is how long tenant writes waited at the cutover.
	PauseMillis float64 `json:"pause_ms,omitempty"`
	// CutoverAttempts counts fences taken; one that timed out is retried.
	CutoverAttempts int `json:"cutover_attempts,omitempty"`
}

// TableProgress is the copy of one table.
type TableProgress struct {
	Name       string `json:"name"`
	RowsTotal  int64  `json:"rows_total"`
	RowsCopied int64  `json:"rows_copied"`
	Bytes      int64  `json:"bytes"`
	Done       bool   `json:"done"`
}

// TableCheck is one table's verification: row count and an
// order-independent hash of its rows on the source and the target.
type TableCheck struct {
	Name       string `json:"name"`
	SourceRows int64  `json:"source_rows"`
	TargetRows int64  `json:"target_rows"`
	SourceHash string `json:"source_hash"`
	TargetHash string `json:"target_hash"`
	Match      bool   `json:"match"`
}
