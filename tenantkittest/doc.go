// Package tenantkittest gives tests a throwaway PostgreSQL: one private
// cluster per `go test` process, started from the machine's server binaries
// on first use (or the server at TENANTKIT_TEST_DATABASE_URL, a superuser
// URL), and a fresh database per test, dropped when the test ends.
//
// Call Main from TestMain so that the cluster stops when the tests finish:
//
//	func TestMain(m *testing.M) { tenantkittest.Main(m) }
//
// Without it a watchdog process still stops the cluster once the test
// binary exits.
package tenantkittest
