package main

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"text/tabwriter"
)

// jobFigures are the enqueue→start latency figures of
// BenchmarkJobStartLatency, each next to a bare River Insert's from the
// same run.
var jobFigures = []moveFigure{
	{"JobStartLatency", "kit.Tx + EnqueueTx → job starts, p50", "p50-ms", "bare-p50-ms", "bare River Insert → job starts, p50", "ms", "-"},
	{"JobStartLatency", "kit.Tx + EnqueueTx → job starts, p99", "p99-ms", "bare-p99-ms", "bare River Insert → job starts, p99", "ms", "aim ≤ 100 ms"},
}

// reportJobs runs the job latency benchmark count times (each run
// alternates 100 kit and bare enqueues on an idle queue) and shows the
// median of each figure next to its baseline.
func reportJobs(count int) error {
	cmd := exec.Command("go", "test", "-run", "^$", "-bench", "^BenchmarkJobStartLatency$",
		"-benchtime", "100x", "-count", strconv.Itoa(count), "-timeout", "30m", ".")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("job latency benchmark: %w\n%s", err, out)
	}
	metrics := parseMetrics(out)
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	printFigures(tw, "job benchmark", jobFigures, metrics)
	return tw.Flush()
}
