package tenantkittest

import "context"

// Vouched is a domain proof check (catalog.ProofCheck) that always holds:
// tests that need a verified custom domain but not its DNS use it with
// catalog.Store.VerifyDomain.
func Vouched(context.Context, string, string) error { return nil }
