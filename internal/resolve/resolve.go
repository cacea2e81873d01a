package resolve

import (
	"errors"
	"net/http"
)

// Kind says how a Ref names a tenant.
type Kind uint8

const (
	// ByID: Value is the tenant's uuid in text form.
	ByID Kind = iota + 1
	// BySlug: Value is the tenant's slug.
	BySlug
	// ByHost: Value is a lower-cased host name without port that must be a
	// verified custom domain of the tenant.
	ByHost
)

// Ref is a reference to a tenant found in a request.
type Ref struct {
	Kind  Kind
	Value string
	// Source names the resolver that found it ("jwt", "domain",
	// "subdomain", "header"), for errors and logs.
	Source string
	// Subject is the user the request acts for (a token's sub claim), for
	// usage metering; "" when the signal names none.
	Subject string
}

// Resolver finds a tenant reference in a request. ok is false when the
// request carries no such signal. err is non-nil when the signal is present
// but invalid (a bad token); the pipeline answers 401 then.
type Resolver interface {
	Resolve(r *http.Request) (ref Ref, ok bool, err error)
}

// ErrInvalidToken wraps every reason a bearer token is refused.
var ErrInvalidToken = errors.New("resolve: invalid token")
