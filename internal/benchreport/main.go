// Command benchreport runs tenantkit's benchmarks and prints each figure
// with its baseline measured in the same run, as `make bench` shows them.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
)

// pair is a benchmark and the baseline it is judged against.
type pair struct {
	pkg, bench, baseline, target string
}

var pairs = []pair{
	{".", "MiddlewareWarm", "BareHandler", "≤ 1 µs and ≤ 3 allocs added"},
	{".", "MiddlewareRateLimited", "MiddlewareWarm", "rate limit ≤ 200 ns added"},
	{".", "MiddlewareObserved", "MiddlewareWarm", "metrics + usage ≤ 300 ns and ≤ 1 alloc added"},
	{".", "MiddlewareArticleUsage", "MiddlewareWarm", "anchor: the article's 2 Redis round trips"},
	{"./internal/meter", "EntryRequest", "", "0 allocs"},
	{"./internal/flags", "Evaluate", "MapLookup", "≤ 100 ns, 0 allocs"},
	{"./internal/ratelimit", "LocalAllow/one_key", "XTimeRateAllow", "≤ 200 ns"},
	{"./internal/settings", "ValuesString", "MapLookup", "0 allocs"},
	{".", "SettingsInHandler", "", "no query (queries/op 0)"},
	{"./internal/keys", "DecryptCachedKey", "TinkDecrypt", "≤ 2 µs"},
	{"./internal/registry", "ResolveWarm", "", "no query (queries/op 0)"},
	{"./internal/tenantcache", "LookupHit", "MapLookup", "< 100 ns, 0 allocs"},
	{"./internal/resolve", "SubdomainResolve", "", "0 allocs"},
	{".", "ScopedQueryRow", "BareQueryRow", "≤ 1.25×"},
	{".", "ScopedTx", "BareTx", "≤ 1.20×"},
	{".", "ScopedQueryRowPerTx", "BareQueryRow", "measured: setup per transaction (a draining tenant)"},
	{".", "ScopedTxPerTx", "BareTx", "measured: setup per transaction (a draining tenant)"},
	{".", "ScopedPage", "BarePage", "≤ 1.10×"},
	{".", "BouncerScopedQueryRow", "BouncerBareQueryRow", "≤ 1.30× (PgBouncer)"},
	{".", "BouncerScopedTx", "BouncerBareTx", "≤ 1.30× (PgBouncer)"},
	{".", "BouncerScopedPage", "BouncerBarePage", "≤ 1.30× (PgBouncer)"},
	{".", "NaiveQueryRow", "BareQueryRow", "anchor: SET, then the query"},
	{".", "HTTPOrdersScoped", "HTTPOrdersBare", "throughput ≥ 0.9× (ratio ≤ 1.11×)"},
	{".", "RLSFilter", "ExplicitFilter", "≤ 1.10×"},
	{".", "JobEnqueueTx", "JobBareInsertTx", "≤ 1.3×"},
	{".", "JobNoopThroughput", "JobBareNoopThroughput", "throughput ≥ 0.8× (ratio ≤ 1.25×)"},
	{"./internal/tlsserve", "HandshakeOnDemandCached", "HandshakeStatic", "throughput ≥ 0.9× (ratio ≤ 1.11×)"},
	{"./internal/tlsserve", "DecisionUnknownName", "", "≤ 1 µs, 0 catalog queries"},
}

type result struct{ ns, allocs, bytes float64 }

// line reads a benchmark's ns/op, B/op and allocs/op, past any custom
// metrics reported between them (queries/op, say).
var line = regexp.MustCompile(`^Benchmark(\S+?)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op(?:\s+[\d.]+ [a-z]+/op)*?(?:\s+([\d.]+) B/op\s+([\d.]+) allocs/op)?`)

func main() {
	count := flag.Int("count", 5, "runs of each benchmark; the median is reported")
	core := flag.Bool("core", true, "run the request pipeline and scoped access benchmarks")
	migrations := flag.Bool("migrations", true, "also run the 1,000-schema migrate benchmarks (about 2 minutes)")
	moves := flag.Bool("moves", true, "also run the tenant move benchmarks (about 4 minutes a count)")
	moveCount := flag.Int("move-count", 1, "runs of the move benchmarks; the median of each figure is reported")
	jobLatency := flag.Bool("job-latency", true, "also run the job enqueue→start latency benchmark (about 1 minute a count)")
	flag.Parse()
	if *core {
		reportCore(*count)
	}
	if *migrations {
		fmt.Println()
		if err := reportMigrations(); err != nil {
			fmt.Fprintf(os.Stderr, "benchreport: %v\n", err)
			os.Exit(1)
		}
	}
	if *jobLatency {
		fmt.Println()
		if err := reportJobs(*count); err != nil {
			fmt.Fprintf(os.Stderr, "benchreport: %v\n", err)
			os.Exit(1)
		}
	}
	if *moves {
		fmt.Println()
		if err := reportMoves(*moveCount); err != nil {
			fmt.Fprintf(os.Stderr, "benchreport: %v\n", err)
			os.Exit(1)
		}
	}
}

// reportCore runs the benchmarks of pairs and shows each next to its
// baseline.
func reportCore(count int) {
	results := map[string]map[string][]result{}
	for _, pkg := range packages() {
		out, err := run(pkg, count)
		if err != nil {
			fmt.Fprintf(os.Stderr, "benchreport: %s: %v\n%s", pkg, err, out)
			os.Exit(1)
		}
		results[pkg] = parse(out)
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "benchmark\tns/op\tallocs/op\tbaseline\tbaseline ns/op\tratio\tadded ns\tadded allocs\ttarget")
	for _, p := range pairs {
		r := median(results[p.pkg][p.bench])
		if p.baseline == "" {
			fmt.Fprintf(tw, "%s\t%.1f\t%.0f\t-\t-\t-\t-\t-\t%s\n", p.bench, r.ns, r.allocs, p.target)
			continue
		}
		b := median(results[p.pkg][p.baseline])
		fmt.Fprintf(tw, "%s\t%.1f\t%.0f\t%s\t%.1f\t%.2fx\t%.1f\t%.0f\t%s\n",
			p.bench, r.ns, r.allocs, p.baseline, b.ns, r.ns/b.ns, r.ns-b.ns, r.allocs-b.allocs, p.target)
	}
	_ = tw.Flush()
}

var perSchema = regexp.MustCompile(`^Benchmark(\S+?)/workers=(\d+)(?:-\d+)?\s+\d+\s+[\d.]+ ns/op\s+([\d.]+) ms/schema`)

// reportMigrations runs the 1,000-schema migrate benchmarks once and shows
// ms per schema with the speed-up of 2 and 4 workers over 1.
func reportMigrations() error {
	cmd := exec.Command("go", "test", "-run", "^$", "-bench", "1000Schemas", "-benchtime", "3x", "-timeout", "20m", "./internal/appmigrate")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("appmigrate benchmarks: %w\n%s", err, out)
	}
	base := map[string]float64{}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "migrate benchmark (1,000 schemas)\tworkers\tms/schema\tspeed-up vs 1 worker\ttarget")
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		g := perSchema.FindStringSubmatch(sc.Text())
		if g == nil {
			continue
		}
		ms, _ := strconv.ParseFloat(g[3], 64)
		if g[2] == "1" {
			base[g[1]] = ms
		}
		speedup := "-"
		if b := base[g[1]]; b > 0 {
			speedup = fmt.Sprintf("%.2fx", b/ms)
		}
		fmt.Fprintf(tw, "%s\t%s\t%.2f\t%s\t≤ 10 ms/schema\n", g[1], g[2], ms, speedup)
	}
	return tw.Flush()
}

func packages() []string {
	seen := map[string]bool{}
	var pkgs []string
	for _, p := range pairs {
		if !seen[p.pkg] {
			seen[p.pkg] = true
			pkgs = append(pkgs, p.pkg)
		}
	}
	return pkgs
}

func run(pkg string, count int) ([]byte, error) {
	var names []string
	for _, p := range pairs {
		if p.pkg == pkg {
			// A sub-benchmark runs through its parent.
			top, _, _ := strings.Cut(p.bench, "/")
			names = append(names, top)
			if p.baseline != "" {
				names = append(names, p.baseline)
			}
		}
	}
	pattern := "^Benchmark(" + strings.Join(names, "|") + ")$"
	// count rounds of one run each, rather than one round of count runs:
	// a benchmark and its baseline then run minutes apart at most once a
	// round, and a machine that slows down for a while slows both.
	var out []byte
	for range count {
		cmd := exec.Command("go", "test", "-run", "^$", "-bench", pattern, "-benchmem", "-count", "1", pkg)
		cmd.Stderr = os.Stderr
		o, err := cmd.Output()
		out = append(out, o...)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// split is a benchmark's name line that a log line of its set-up cut off
// from its figures, which follow on a line of their own.
var (
	split   = regexp.MustCompile(`^Benchmark(\S+?)(?:-\d+)?\s+\S`)
	figures = regexp.MustCompile(`^\s+\d+\s+[\d.]+ ns/op`)
)

func parse(out []byte) map[string][]result {
	m := map[string][]result{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	pending := ""
	for sc.Scan() {
		text := sc.Text()
		if pending != "" && figures.MatchString(text) {
			text = "Benchmark" + pending + text
		}
		g := line.FindStringSubmatch(text)
		if g == nil {
			if sg := split.FindStringSubmatch(text); sg != nil {
				pending = sg[1]
			}
			continue
		}
		pending = ""
		var r result
		r.ns, _ = strconv.ParseFloat(g[2], 64)
		r.bytes, _ = strconv.ParseFloat(g[3], 64)
		r.allocs, _ = strconv.ParseFloat(g[4], 64)
		m[g[1]] = append(m[g[1]], r)
	}
	return m
}

func median(rs []result) result {
	if len(rs) == 0 {
		return result{}
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].ns < rs[j].ns })
	return rs[len(rs)/2]
}
