package main

import "testing"

// TestParseJoinsFiguresALogLineCutOff: a log line written while the last
// round set up lands between a benchmark's name and its figures; they are
// still read as the benchmark's.
func TestParseJoinsFiguresALogLineCutOff(t *testing.T) {
	out := "BenchmarkBareQueryRow-2   \t   36045\t     35587 ns/op\t     470 B/op\t       9 allocs/op\n" +
		"BenchmarkHTTPOrdersScoped-2   \t2026/12/07 12:25:57 INFO appmigrate: target migrated target=test/x from=0 to=1\n" +
		"2026/12/07 12:25:58 INFO appmigrate: target migrated target=test/y from=0 to=1\n" +
		"    2683\t   1061031 ns/op\t   52110 B/op\t     611 allocs/op\n"
	got := parse([]byte(out))
	if r := got["BareQueryRow"]; len(r) != 1 || r[0].ns != 35587 || r[0].allocs != 9 {
		t.Fatalf("BareQueryRow: %+v", r)
	}
	if r := got["HTTPOrdersScoped"]; len(r) != 1 || r[0].ns != 1061031 || r[0].allocs != 611 {
		t.Fatalf("HTTPOrdersScoped: %+v", r)
	}
}
