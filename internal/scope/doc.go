// Package scope runs statements and transactions scoped to one tenant on a
// pooled connection: the tenant setup and the move fence travel in the
// first round trip (tenantkit.enter), nothing a statement leaves on the
// session reaches the next tenant that gets the connection, and statements
// are prepared per connection under the tenant's schema, in a bounded
// cache that deallocates what it evicts.
package scope
