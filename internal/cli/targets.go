package cli

import (
	"fmt"
	"io/fs"
	"os"

	"github.com/tenantkit/tenantkit/examples/orders"
)

// migrationsFS is the application's migrations: --migrations DIR, or the
// example orders application's when dir is "example".
func migrationsFS(dir string) (fs.FS, error) {
	switch dir {
	case "":
		return nil, usageError{fmt.Errorf("give the application's migrations: --migrations DIR (or TENANTKIT_MIGRATIONS; \"example\" for the bundled orders app)")}
	case "example":
		return orders.Migrations(), nil
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, usageError{fmt.Errorf("--migrations %s: not a directory", dir)}
	}
	return os.DirFS(dir), nil
}
