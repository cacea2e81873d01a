//go:build ignore

// gen writes openapi.json from openapi.yaml: go generate ./api.
package main

import (
	"fmt"
	"os"

	"github.com/tenantkit/tenantkit/internal/yamljson"
)

func main() {
	in, err := os.ReadFile("openapi.yaml")
	if err == nil {
		var out []byte
		if out, err = yamljson.Convert(in); err == nil {
			err = os.WriteFile("openapi.json", out, 0o644)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "api: generate:", err)
		os.Exit(1)
	}
}
