// Package api holds the OpenAPI 3.1 contract of tenantkit's admin API.
//
// openapi.yaml is written by hand and is the source; openapi.json is made
// from it by go generate, embedded here, and served by every tenantkit
// server at GET /api/v1/openapi.json. The test suite validates every
// request it sends to the admin API, and every answer, against it.
package api

import _ "embed"

//go:generate go run gen.go

// OpenAPI is the contract as JSON.
//
//go:embed openapi.json
var OpenAPI []byte
