package tenantkit

import (
	"fmt"

	"github.com/tenantkit/tenantkit/internal/resolve"
)

// Resolver names, for ResolverConfig.Order.
const (
	sourceJWT       = "jwt"
	sourceDomain    = "domain"
	sourceSubdomain = "subdomain"
	sourceHeader    = "header"
)

// JWTConfig configures tenant resolution from a bearer token: an HS256
// secret or a JWKS URL (RS256, ES256), the claim naming the tenant, and the
// issuer and audience to require.
type JWTConfig = resolve.JWTConfig

// HeaderConfig configures tenant resolution from a header set by trusted
// proxies only.
type HeaderConfig = resolve.HeaderConfig

// ResolverConfig says which signals name a request's tenant and in which
// order they are tried. The first signal naming a known tenant wins; a
// signal naming another tenant makes the request a 403.
type ResolverConfig struct {
	// JWT resolves from a claim of the bearer token. Defaults to nil (off).
	JWT *JWTConfig
	// CustomDomains resolves hosts that are verified custom domains of a
	// tenant. Defaults to false.
	CustomDomains bool
	// BaseDomain resolves acme.BaseDomain to the tenant with slug acme.
	// Defaults to "localhost" when no other resolver is configured.
	BaseDomain string
	// ReservedSubdomains are labels below BaseDomain that never name a
	// tenant. Defaults to www, api, admin, app, mail, static.
	ReservedSubdomains []string
	// Header resolves from a header that only trusted proxies may set.
	// Defaults to nil (off).
	Header *HeaderConfig
	// Order lists resolver names ("jwt", "domain", "subdomain", "header")
	// in the order they are tried. Defaults to that order.
	Order []string
}

func (k *Kit) buildResolvers() error {
	rc := k.cfg.Resolvers
	if rc.JWT == nil && !rc.CustomDomains && rc.BaseDomain == "" && rc.Header == nil {
		rc.BaseDomain = "localhost"
	}
	order := rc.Order
	if len(order) == 0 {
		order = []string{sourceJWT, sourceDomain, sourceSubdomain, sourceHeader}
	}
	seen := map[string]bool{}
	for _, name := range order {
		if seen[name] {
			return fmt.Errorf("tenantkit: resolver %q listed twice in Order", name)
		}
		seen[name] = true
		r, err := k.buildResolver(rc, name)
		if err != nil {
			return err
		}
		if r != nil {
			k.resolvers = append(k.resolvers, r)
		}
	}
	return nil
}

func (k *Kit) buildResolver(rc ResolverConfig, name string) (resolve.Resolver, error) {
	switch name {
	case sourceJWT:
		if rc.JWT == nil {
			return nil, nil
		}
		j, err := resolve.NewJWT(*rc.JWT)
		if err != nil {
			return nil, err
		}
		k.closers = append(k.closers, j.Close)
		return j, nil
	case sourceDomain:
		if !rc.CustomDomains {
			return nil, nil
		}
		var exclude []string
		if rc.BaseDomain != "" {
			exclude = append(exclude, rc.BaseDomain)
		}
		return resolve.NewDomain(resolve.DomainConfig{Exclude: exclude})
	case sourceSubdomain:
		if rc.BaseDomain == "" {
			return nil, nil
		}
		return resolve.NewSubdomain(resolve.SubdomainConfig{BaseDomain: rc.BaseDomain, Reserved: rc.ReservedSubdomains})
	case sourceHeader:
		if rc.Header == nil {
			return nil, nil
		}
		return resolve.NewHeader(*rc.Header)
	}
	return nil, fmt.Errorf("tenantkit: unknown resolver %q in Order (want jwt, domain, subdomain or header)", name)
}
