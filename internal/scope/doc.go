// Package scope runs statements and transactions scoped to one tenant on a
// pooled connection: a connection stays bound to the tenant it served last
// (a session-level setup and lock), or the tenant setup and the move fence
// travel in the first round trip as one statement. Nothing a statement
// leaves on the session reaches the next tenant that gets the connection,
// and statements are prepared per connection under the tenant's schema, in
// a bounded cache that deallocates what it evicts.
package scope
