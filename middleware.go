package tenantkit

import (
	"errors"
	"net/http"

	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/problem"
	"github.com/tenantkit/tenantkit/internal/ratelimit"
	"github.com/tenantkit/tenantkit/internal/resolve"
)

// Middleware resolves the tenant of every request and passes it to next in
// the request context (read it with FromContext). It answers with an RFC
// 9457 problem instead when:
//
//   - a bearer token is present but invalid: 401 invalid-token;
//   - two signals name different tenants (token says A, host says B): 403
//     tenant-conflict — never a guess;
//   - the tenant is suspended: 403 tenant-suspended with the reason;
//   - no tenant, an unknown one, or a deleted one: 404 tenant-not-found;
//   - the catalog cannot be reached on a cold cache: 503 unavailable;
//   - the tenant is over its request rate (api_rps, api_burst): 429
//     rate-limited with Retry-After;
//   - the rate limiter's Redis cannot be reached and FailOpen is off: 503
//     unavailable with Retry-After.
//
// Every rate-limited response carries RateLimit-Limit, RateLimit-Remaining
// and RateLimit-Reset. A warm request reads only memory (rate limits kept
// in Redis cost one round trip). Mount admin routes outside it.
func (k *Kit) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t, user, p := k.resolveRequest(r)
		if p != nil {
			if p.Status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			}
			problem.Write(w, r, p)
			if k.obs != nil {
				k.obs.refused(k, nil, r, p.Status)
			}
			return
		}
		if k.limiter != nil && !k.allow(w, r, t) {
			return
		}
		if k.obs != nil {
			k.obs.serve(k, w, r, t, user, next)
			return
		}
		next.ServeHTTP(w, r.WithContext(WithTenant(r.Context(), t)))
	})
}

// allow applies the tenant's rate limit, and answers the request itself
// when it is refused.
func (k *Kit) allow(w http.ResponseWriter, r *http.Request, t *Tenant) bool {
	x := k.extra(t)
	rate, limited := x.rate, x.limited
	if k.throttled(t) {
		thr := ratelimit.Limit{Rate: k.obs.cfg.ThrottleRPS, Burst: max(1, int(k.obs.cfg.ThrottleRPS))}
		if !limited || thr.Rate < rate.Rate {
			rate = thr
		}
		limited = true
	}
	if !limited {
		return true
	}
	res, err := k.limiter.Allow(r.Context(), x.rateKey, rate)
	if err != nil && !errors.Is(err, ratelimit.ErrBackend) {
		k.log.ErrorContext(r.Context(), "tenantkit: rate limit", "tenant", t.Slug, "err", err)
		return true // a limit the catalog holds but the limiter refuses: serve
	}
	ratelimit.WriteHeaders(w.Header(), res)
	switch {
	case res.Allowed:
		return true
	case k.obs != nil:
		k.obs.refused(k, t, r, http.StatusTooManyRequests)
	}
	switch {
	case res.Degraded:
		problem.Write(w, r, problem.New(http.StatusServiceUnavailable, problem.Unavailable, "rate limiter unavailable"))
	default:
		problem.Write(w, r, problem.New(http.StatusTooManyRequests, rateLimitedProblem,
			"tenant "+t.Slug+" is over its request rate"))
	}
	return false
}

// resolveRequest runs every resolver in order. The first signal naming a
// known tenant wins; every other signal must agree with it.
func (k *Kit) resolveRequest(r *http.Request) (*Tenant, string, *problem.Problem) {
	var (
		chosen     *Tenant
		chosenFrom string
		unknown    string // source of an explicit signal naming no tenant
		seen       bool
		user       string
	)
	for _, res := range k.resolvers {
		ref, ok, err := res.Resolve(r)
		if err != nil {
			return nil, "", problem.New(http.StatusUnauthorized, problem.InvalidToken, err.Error())
		}
		if !ok {
			continue
		}
		seen = true
		if ref.Subject != "" {
			user = ref.Subject
		}
		t, err := k.cache.Lookup(r.Context(), ref)
		switch {
		case errors.Is(err, catalog.ErrTenantNotFound):
			// A host that names no (verified) tenant is no signal at all;
			// a token or header that names an unknown tenant is a claim
			// that must not be overruled by the host.
			if explicit(ref) && unknown == "" {
				unknown = ref.Source
			}
			continue
		case err != nil:
			k.log.ErrorContext(r.Context(), "tenantkit: load tenant context", "source", ref.Source, "err", err)
			return nil, "", problem.New(http.StatusServiceUnavailable, problem.Unavailable, "tenant catalog unavailable")
		}
		if chosen == nil {
			chosen, chosenFrom = t, ref.Source
		} else if t.ID != chosen.ID {
			return nil, "", conflict(chosenFrom, ref.Source)
		}
	}
	switch {
	case chosen != nil && unknown != "":
		return nil, "", conflict(chosenFrom, unknown)
	case chosen == nil && seen:
		return nil, "", problem.New(http.StatusNotFound, problem.TenantNotFound, "no such tenant")
	case chosen == nil:
		return nil, "", problem.New(http.StatusNotFound, problem.TenantNotFound, "the request names no tenant")
	}
	t, p := gate(chosen)
	return t, user, p
}

func explicit(ref resolve.Ref) bool { return ref.Source == sourceJWT || ref.Source == sourceHeader }

func conflict(a, b string) *problem.Problem {
	return problem.New(http.StatusForbidden, problem.TenantConflict,
		"the request names different tenants ("+a+" and "+b+")")
}

// gate lets active tenants through.
func gate(t *Tenant) (*Tenant, *problem.Problem) {
	switch t.Status {
	case StatusActive:
		return t, nil
	case StatusSuspended:
		p := problem.New(http.StatusForbidden, problem.TenantSuspended, "tenant is suspended")
		p.Reason = t.SuspensionReason
		return nil, p
	default:
		return nil, problem.New(http.StatusNotFound, problem.TenantNotFound, "no such tenant")
	}
}

// rateLimitedProblem is the problem type of a refused request.
const rateLimitedProblem = "rate-limited"
