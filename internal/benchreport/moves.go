package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
)

// moveFigure is a figure of a tenant move benchmark and its baseline, both
// custom metrics (b.ReportMetric) of the same benchmark run.
type moveFigure struct {
	bench, label     string
	metric, baseline string
	baselineLabel    string
	unit, target     string
}

var moveFigures = []moveFigure{
	{"MoveCopy", "copy phase (copyAll), 50k orders", "rows/s", "raw-rows/s", "raw binary COPY TO | COPY FROM", "rows/s", "≥ 0.8×"},
	{"MoveCutoverPause", "longest write per cutover, p50", "pause-p50-ms", "write-p50-ms", "write latency with no move, p50", "ms", "-"},
	{"MoveCutoverPause", "longest write per cutover, p99", "pause-p99-ms", "write-p99-ms", "write latency with no move, p99", "ms", "≤ 1000 ms (aim ≤ 100 ms)"},
	{"MoveCutoverPause", "engine's recorded pause, p50", "engine-pause-p50-ms", "write-p50-ms", "write latency with no move, p50", "ms", "-"},
	{"MoveCutoverPause", "engine's recorded pause, p99", "engine-pause-p99-ms", "write-p99-ms", "write latency with no move, p99", "ms", "≤ 1000 ms (aim ≤ 100 ms)"},
	{"MoveApply", "stream applying a 10k-change backlog", "applied/s", "written/s", "the writers producing it", "changes/s", "≥ 2×"},
}

// metricLine is a result line; after a benchmark's log output, go test
// repeats the result of a later -count run without the name.
var (
	metricLine = regexp.MustCompile(`^Benchmark(\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)
	repeatLine = regexp.MustCompile(`^\s+\d+\s+([\d.]+ ns/op.*)$`)
)

// reportMoves runs the tenant move benchmarks count times, once each
// (every run holds many copies, cutovers or changes), and shows the median
// of each figure next to its baseline from the same runs.
func reportMoves(count int) error {
	cmd := exec.Command("go", "test", "-run", "^$", "-bench", "^BenchmarkMove(Copy|CutoverPause|Apply)$",
		"-benchtime", "1x", "-count", strconv.Itoa(count), "-timeout", "60m", "./internal/move")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("move benchmarks: %w\n%s", err, out)
	}
	if os.Getenv("BENCHREPORT_RAW") != "" {
		_ = os.WriteFile(os.Getenv("BENCHREPORT_RAW"), out, 0o644)
	}
	metrics := parseMetrics(out)
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	printFigures(tw, "move benchmark", moveFigures, metrics)
	if n := medianOf(metrics["MoveCutoverPause"]["failed-writes"]); n > 0 {
		fmt.Fprintf(tw, "MoveCutoverPause\tfailed writes\t%.0f\t\t\t\t0\n", n)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// The benchmarks log the figures behind the medians: each cutover's
	// pause and its phases, each copy pair's ratio.
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if t := strings.TrimSpace(sc.Text()); strings.HasPrefix(t, "bench_test.go:") {
			fmt.Println("  " + t)
		}
	}
	return nil
}

// printFigures writes the median of each figure next to its baseline's,
// with their ratio.
func printFigures(tw io.Writer, heading string, figures []moveFigure, metrics map[string]map[string][]float64) {
	fmt.Fprintln(tw, heading+"\tfigure\tvalue\tbaseline\tbaseline value\tratio\ttarget")
	for _, f := range figures {
		m := metrics[f.bench]
		v, b := medianOf(m[f.metric]), medianOf(m[f.baseline])
		ratio := "-"
		if b > 0 {
			ratio = fmt.Sprintf("%.2fx", v/b)
		}
		fmt.Fprintf(tw, "%s\t%s\t%.1f %s\t%s\t%.1f %s\t%s\t%s\n", f.bench, f.label, v, f.unit, f.baselineLabel, b, f.unit, ratio, f.target)
	}
}

// parseMetrics reads every "value unit" pair of each benchmark line.
func parseMetrics(out []byte) map[string]map[string][]float64 {
	m := map[string]map[string][]float64{}
	name := ""
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var fields string
		if g := metricLine.FindStringSubmatch(sc.Text()); g != nil {
			name, fields = g[1], g[2]
		} else if g := repeatLine.FindStringSubmatch(sc.Text()); g != nil && name != "" {
			fields = g[1]
		} else {
			continue
		}
		if m[name] == nil {
			m[name] = map[string][]float64{}
		}
		f := strings.Fields(fields)
		for i := 0; i+1 < len(f); i += 2 {
			if v, err := strconv.ParseFloat(f[i], 64); err == nil {
				m[name][f[i+1]] = append(m[name][f[i+1]], v)
			}
		}
	}
	return m
}

func medianOf(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	sort.Float64s(xs)
	return xs[len(xs)/2]
}
