package resolve

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// JWTConfig configures a JWT resolver. Exactly one of Secret and JWKSURL is
// set.
type JWTConfig struct {
	// Secret verifies HS256 tokens; no other algorithm is accepted with it.
	// It must be at least 32 bytes (RFC 7518 section 3.2). Defaults to
	// none.
	Secret []byte

	// JWKSURL is the identity provider's JSON Web Key Set. Tokens must be
	// RS256 or ES256 and signed by one of its keys. The set is fetched when
	// NewJWT runs (a failure is logged, not returned, so that an identity
	// provider that is down does not stop the service from starting), again
	// every RefreshInterval, and whenever a token names a key id (kid) the
	// set does not hold, at most once per UnknownKIDRefreshInterval: that is
	// how a rotated key is picked up without a restart. It must be https,
	// or http on a loopback address. Defaults to none.
	JWKSURL string

	// HTTPClient fetches JWKSURL. Defaults to http.DefaultClient.
	HTTPClient *http.Client

	// FetchTimeout bounds each fetch of JWKSURL, and how long a request
	// with an unknown kid waits for the fetch it triggers (or, while
	// fetches are rate-limited, for the limit to lift; a request that would
	// wait longer is refused at once). Defaults to 10 seconds.
	FetchTimeout time.Duration

	// RefreshInterval is how often JWKSURL is fetched in the background.
	// Defaults to 1 hour.
	RefreshInterval time.Duration

	// UnknownKIDRefreshInterval is the least time between two fetches of
	// JWKSURL triggered by tokens with unknown key ids, so that anyone
	// sending made-up kids cannot make the service hammer the identity
	// provider. Defaults to 5 minutes.
	UnknownKIDRefreshInterval time.Duration

	// Issuer is the required iss claim. Defaults to "": iss is not checked.
	Issuer string

	// Audience is a value the aud claim must hold. Defaults to "": aud is
	// not checked.
	Audience string

	// Leeway is the clock skew allowed when checking exp and nbf, at most
	// 5 minutes. Defaults to 30 seconds.
	Leeway time.Duration

	// Claim is the claim that holds the tenant: a uuid names it by id,
	// another string by slug. Defaults to "tenant_id".
	Claim string

	// Logger receives failed JWKS fetches (warn) and refused tokens (debug).
	// Defaults to slog.Default().
	Logger *slog.Logger
}

const maxLeeway = 5 * time.Minute

func (c *JWTConfig) validate() error {
	switch {
	case (len(c.Secret) == 0) == (c.JWKSURL == ""):
		return errors.New("resolve: JWTConfig needs exactly one of Secret and JWKSURL")
	case len(c.Secret) > 0 && len(c.Secret) < 32:
		return errors.New("resolve: JWTConfig.Secret must be at least 32 bytes")
	case c.Leeway < 0 || c.Leeway > maxLeeway:
		return fmt.Errorf("resolve: JWTConfig.Leeway must be between 0 and %s", maxLeeway)
	case c.FetchTimeout < 0 || c.RefreshInterval < 0 || c.UnknownKIDRefreshInterval < 0:
		return errors.New("resolve: JWTConfig durations must not be negative")
	case c.JWKSURL != "":
		return checkJWKSURL(c.JWKSURL)
	}
	return nil
}

// checkJWKSURL refuses URLs whose keys an attacker on the network could
// replace: whoever serves the key set decides which tokens are valid.
func checkJWKSURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return fmt.Errorf("resolve: JWTConfig.JWKSURL %q is not an absolute URL", s)
	}
	if u.Scheme == "https" || u.Scheme == "http" && isLoopback(u.Hostname()) {
		return nil
	}
	return fmt.Errorf("resolve: JWTConfig.JWKSURL %q must be https (or http on a loopback address)", s)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (c JWTConfig) withDefaults() JWTConfig {
	c.FetchTimeout = cmp.Or(c.FetchTimeout, 10*time.Second)
	c.RefreshInterval = cmp.Or(c.RefreshInterval, time.Hour)
	c.UnknownKIDRefreshInterval = cmp.Or(c.UnknownKIDRefreshInterval, 5*time.Minute)
	c.Leeway = cmp.Or(c.Leeway, 30*time.Second)
	c.Claim = cmp.Or(c.Claim, "tenant_id")
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// JWT resolves a tenant from a claim of the bearer token in the
// Authorization header. A request without a bearer token gives ok=false; a
// token that fails verification gives an error wrapping ErrInvalidToken,
// whose message is safe to show the client.
//
// Verification requires a valid signature by an allowed algorithm (HS256
// with a secret; RS256 or ES256 with a key set, so neither "none" nor an
// HMAC token keyed with a public key passes), an unexpired exp claim, nbf
// (if present) in the past, and iss and aud when configured.
type JWT struct {
	parser *jwt.Parser
	secret jwt.Keyfunc     // nil with a key set
	keys   keyfunc.Keyfunc // nil with a secret
	claim  string
	logger *slog.Logger
	cancel context.CancelFunc
}

// NewJWT returns a JWT resolver for cfg. With a JWKSURL it starts a
// goroutine that refreshes the key set until Close is called.
func NewJWT(cfg JWTConfig) (*JWT, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	j := &JWT{claim: cfg.Claim, logger: cfg.Logger, cancel: func() {}}
	// The allowed algorithms follow from the kind of key: a secret never
	// verifies an RSA or ECDSA token, and a public key never serves as an
	// HMAC secret (the algorithm confusion attack).
	methods := []string{"RS256", "ES256"}
	if cfg.JWKSURL == "" {
		methods = []string{"HS256"}
		secret := cfg.Secret
		j.secret = func(*jwt.Token) (any, error) { return secret, nil }
	} else if err := j.startKeySet(cfg); err != nil {
		return nil, err
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(methods),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(cfg.Leeway),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	j.parser = jwt.NewParser(opts...)
	return j, nil
}

func (j *JWT) startKeySet(cfg JWTConfig) error {
	ctx, cancel := context.WithCancel(context.Background())
	keys, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{cfg.JWKSURL}, keyfunc.Override{
		Client:      cfg.HTTPClient,
		HTTPTimeout: cfg.FetchTimeout,
		// keyfunc waits for the limiter, then fetches, under one timeout of
		// RateLimitWaitMax.
		RateLimitWaitMax:        cfg.FetchTimeout,
		RefreshInterval:         cfg.RefreshInterval,
		RefreshUnknownKID:       rate.NewLimiter(rate.Every(cfg.UnknownKIDRefreshInterval), 1),
		RefreshErrorHandlerFunc: j.logFetchError,
	})
	if err != nil {
		cancel()
		return fmt.Errorf("resolve: start JWKS client: %w", err)
	}
	j.keys, j.cancel = keys, cancel
	return nil
}

func (j *JWT) logFetchError(jwksURL string) func(context.Context, error) {
	return func(ctx context.Context, err error) {
		j.logger.WarnContext(ctx, "resolve: fetch JWKS", "url", jwksURL, "err", err)
	}
}

// Close stops refreshing the key set. Tokens keep verifying against the
// keys already fetched. It may be called more than once.
func (j *JWT) Close() {
	j.cancel()
}

// Resolve implements Resolver.
func (j *JWT) Resolve(r *http.Request) (Ref, bool, error) {
	token, ok, err := bearerToken(r)
	if !ok || err != nil {
		return Ref{}, false, err
	}
	ref, err := j.verify(r.Context(), token)
	if err != nil {
		j.logger.DebugContext(r.Context(), "resolve: refuse token", "err", err)
		return Ref{}, false, err
	}
	return ref, true, nil
}

func (j *JWT) verify(ctx context.Context, token string) (Ref, error) {
	claims := jwt.MapClaims{}
	if _, err := j.parser.ParseWithClaims(token, claims, j.keyfunc(ctx)); err != nil {
		return Ref{}, tokenError(err)
	}
	raw, ok := claims[j.claim]
	if !ok {
		return Ref{}, fmt.Errorf("%w: claim %q is missing", ErrInvalidToken, j.claim)
	}
	value, ok := raw.(string)
	if !ok || value == "" {
		return Ref{}, fmt.Errorf("%w: claim %q is not a non-empty string", ErrInvalidToken, j.claim)
	}
	ref := refFromValue(value, "jwt")
	ref.Subject, _ = claims["sub"].(string)
	return ref, nil
}

// keyfunc returns the key for a token. With a key set the request's context
// bounds the fetch an unknown kid may trigger.
func (j *JWT) keyfunc(ctx context.Context) jwt.Keyfunc {
	if j.keys != nil {
		return j.keys.KeyfuncCtx(ctx)
	}
	return j.secret
}

// bearerToken returns the token of an "Authorization: Bearer" header. ok is
// false without an Authorization header or with another scheme (Basic),
// which is another resolver's business.
func bearerToken(r *http.Request) (token string, ok bool, err error) {
	for _, v := range r.Header.Values("Authorization") {
		scheme, t, _ := strings.Cut(v, " ")
		if !strings.EqualFold(scheme, "Bearer") {
			continue
		}
		if ok {
			return "", false, fmt.Errorf("%w: more than one bearer token", ErrInvalidToken)
		}
		token, ok = strings.TrimSpace(t), true
	}
	if !ok {
		return "", false, nil
	}
	if token == "" {
		return "", false, fmt.Errorf("%w: empty bearer token", ErrInvalidToken)
	}
	return token, true, nil
}

// tokenError turns a jwt or keyfunc error into one a client may see: the
// reason is one of the jwt package's fixed sentinels, never the underlying
// text, which can hold key ids, URLs or network errors.
func tokenError(err error) error {
	if errors.Is(err, keyfunc.ErrKeyfunc) {
		// The kid is not in the key set (even after a refresh, or while
		// refreshes are rate-limited), or the key does not fit the token.
		return fmt.Errorf("%w: signing key is unknown", ErrInvalidToken)
	}
	for _, reason := range []error{
		jwt.ErrTokenMalformed,
		jwt.ErrTokenSignatureInvalid,
		jwt.ErrTokenUnverifiable,
		jwt.ErrTokenExpired,
		jwt.ErrTokenNotValidYet,
		jwt.ErrTokenUsedBeforeIssued,
		jwt.ErrTokenInvalidIssuer,
		jwt.ErrTokenInvalidAudience,
		jwt.ErrTokenRequiredClaimMissing,
		jwt.ErrTokenInvalidClaims,
	} {
		if errors.Is(err, reason) {
			return fmt.Errorf("%w: %w", ErrInvalidToken, reason)
		}
	}
	return ErrInvalidToken
}
