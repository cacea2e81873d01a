// Command tenantkit runs the tenantkit control plane and manages tenants.
package main

import (
	"os"

	"github.com/tenantkit/tenantkit/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
