// Package cli is the tenantkit command line: one file per command. Errors
// are one line on stderr and a non-zero exit status.
package cli
