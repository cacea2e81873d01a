// Package problem writes RFC 9457 problem details (application/problem+json)
// with a stable type URI per kind of error, so clients can branch on type
// rather than on prose.
package problem
