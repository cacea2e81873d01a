package resolve_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/tenantkit/tenantkit/internal/resolve"
)

const (
	testIssuer   = "https://idp.test"
	testAudience = "tenantkit"
	tenantUUID   = "7a1f3c2e-9b4d-4e6a-8f21-0c5d6e7f8a9b"
)

// errUnknownKey stands for "the error says the signing key is unknown".
var errUnknownKey = errors.New("signing key is unknown")

var testSecret = []byte("0123456789abcdef0123456789abcdef")

// claims returns valid claims for a token, changed by edit.
func claims(edit func(jwt.MapClaims)) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{
		"tenant_id": "acme",
		"iss":       testIssuer,
		"aud":       testAudience,
		"iat":       now.Unix(),
		"nbf":       now.Add(-time.Minute).Unix(),
		"exp":       now.Add(time.Hour).Unix(),
	}
	if edit != nil {
		edit(c)
	}
	return c
}

func sign(t *testing.T, method jwt.SigningMethod, key any, kid string, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign token: %v", err)
	}
	return s
}

// unsigned crafts an "alg: none" token by hand, as an attacker would.
func unsigned(t *testing.T, c jwt.MapClaims) string {
	t.Helper()
	payload, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc(payload) + "."
}

func bearer(token string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	return r
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newJWT(t *testing.T, cfg resolve.JWTConfig) *resolve.JWT {
	t.Helper()
	cfg.Logger = quietLogger()
	j, err := resolve.NewJWT(cfg)
	if err != nil {
		t.Fatalf("NewJWT: %v", err)
	}
	t.Cleanup(j.Close)
	return j
}

// wantRef fails unless resolving r gives want.
func wantRef(t *testing.T, res resolve.Resolver, r *http.Request, want resolve.Ref) {
	t.Helper()
	got, ok, err := res.Resolve(r)
	if err != nil || !ok || got != want {
		t.Fatalf("Resolve = %+v, %v, %v; want %+v, true, nil", got, ok, err, want)
	}
}

// wantRefused fails unless resolving r is refused with ErrInvalidToken, and
// returns the error.
func wantRefused(t *testing.T, res resolve.Resolver, r *http.Request) error {
	t.Helper()
	got, ok, err := res.Resolve(r)
	if !errors.Is(err, resolve.ErrInvalidToken) || ok || got != (resolve.Ref{}) {
		t.Fatalf("Resolve = %+v, %v, %v; want refusal with ErrInvalidToken", got, ok, err)
	}
	return err
}

func TestNewJWTValidatesConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  resolve.JWTConfig
	}{
		{"neither secret nor JWKS", resolve.JWTConfig{}},
		{"both secret and JWKS", resolve.JWTConfig{Secret: testSecret, JWKSURL: "https://idp.test/jwks"}},
		{"short secret", resolve.JWTConfig{Secret: []byte("too short")}},
		{"relative JWKS URL", resolve.JWTConfig{JWKSURL: "/jwks"}},
		{"plain http JWKS URL", resolve.JWTConfig{JWKSURL: "http://idp.test/jwks"}},
		{"ftp JWKS URL", resolve.JWTConfig{JWKSURL: "ftp://idp.test/jwks"}},
		{"negative leeway", resolve.JWTConfig{Secret: testSecret, Leeway: -time.Second}},
		{"huge leeway", resolve.JWTConfig{Secret: testSecret, Leeway: time.Hour}},
		{"negative fetch timeout", resolve.JWTConfig{JWKSURL: "https://idp.test/jwks", FetchTimeout: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if j, err := resolve.NewJWT(tt.cfg); err == nil {
				j.Close()
				t.Fatal("NewJWT succeeded; want an error")
			}
		})
	}
}

func TestJWTWithoutBearerToken(t *testing.T) {
	t.Parallel()
	j := newJWT(t, resolve.JWTConfig{Secret: testSecret})
	for name, header := range map[string]string{"no header": "", "basic": "Basic YWxhZGRpbjpvcGVuc2VzYW1l"} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if header != "" {
			r.Header.Set("Authorization", header)
		}
		if got, ok, err := j.Resolve(r); ok || err != nil {
			t.Fatalf("%s: Resolve = %+v, %v, %v; want not ok, nil", name, got, ok, err)
		}
	}
}

func TestJWTSecret(t *testing.T) {
	t.Parallel()
	j := newJWT(t, resolve.JWTConfig{Secret: testSecret, Issuer: testIssuer, Audience: testAudience})
	hs := func(edit func(jwt.MapClaims)) func(*testing.T) string {
		return func(t *testing.T) string { return sign(t, jwt.SigningMethodHS256, testSecret, "", claims(edit)) }
	}
	ago := func(d time.Duration) int64 { return time.Now().Add(-d).Unix() }
	tests := []struct {
		name  string
		token func(*testing.T) string
		want  resolve.Ref // zero: refused
		why   error       // for a refusal: what the error wraps besides ErrInvalidToken
	}{
		{"slug", hs(nil), resolve.Ref{Kind: resolve.BySlug, Value: "acme", Source: "jwt"}, nil},
		{"slug is lower-cased", hs(func(c jwt.MapClaims) { c["tenant_id"] = "AcMe" }),
			resolve.Ref{Kind: resolve.BySlug, Value: "acme", Source: "jwt"}, nil},
		{"uuid", hs(func(c jwt.MapClaims) { c["tenant_id"] = strings.ToUpper(tenantUUID) }),
			resolve.Ref{Kind: resolve.ByID, Value: tenantUUID, Source: "jwt"}, nil},
		{"uuid without dashes is a slug", hs(func(c jwt.MapClaims) { c["tenant_id"] = strings.ReplaceAll(tenantUUID, "-", "") }),
			resolve.Ref{Kind: resolve.BySlug, Value: strings.ReplaceAll(tenantUUID, "-", ""), Source: "jwt"}, nil},
		{"audience list", hs(func(c jwt.MapClaims) { c["aud"] = []string{"other", testAudience} }),
			resolve.Ref{Kind: resolve.BySlug, Value: "acme", Source: "jwt"}, nil},
		{"expired within leeway", hs(func(c jwt.MapClaims) { c["exp"] = ago(10 * time.Second) }),
			resolve.Ref{Kind: resolve.BySlug, Value: "acme", Source: "jwt"}, nil},
		{"expired", hs(func(c jwt.MapClaims) { c["exp"] = ago(time.Minute) }), resolve.Ref{}, jwt.ErrTokenExpired},
		{"no exp", hs(func(c jwt.MapClaims) { delete(c, "exp") }), resolve.Ref{}, jwt.ErrTokenRequiredClaimMissing},
		{"nbf in the future", hs(func(c jwt.MapClaims) { c["nbf"] = ago(-time.Minute) }), resolve.Ref{}, jwt.ErrTokenNotValidYet},
		{"wrong issuer", hs(func(c jwt.MapClaims) { c["iss"] = "https://evil.test" }), resolve.Ref{}, jwt.ErrTokenInvalidIssuer},
		{"no issuer", hs(func(c jwt.MapClaims) { delete(c, "iss") }), resolve.Ref{}, jwt.ErrTokenRequiredClaimMissing},
		{"wrong audience", hs(func(c jwt.MapClaims) { c["aud"] = "other" }), resolve.Ref{}, jwt.ErrTokenInvalidAudience},
		{"no audience", hs(func(c jwt.MapClaims) { delete(c, "aud") }), resolve.Ref{}, jwt.ErrTokenRequiredClaimMissing},
		{"missing claim", hs(func(c jwt.MapClaims) { delete(c, "tenant_id") }), resolve.Ref{}, nil},
		{"empty claim", hs(func(c jwt.MapClaims) { c["tenant_id"] = "" }), resolve.Ref{}, nil},
		{"number claim", hs(func(c jwt.MapClaims) { c["tenant_id"] = 42 }), resolve.Ref{}, nil},
		{"malformed", func(*testing.T) string { return "not.a.jwt" }, resolve.Ref{}, jwt.ErrTokenMalformed},
		{"garbage", func(*testing.T) string { return "garbage" }, resolve.Ref{}, jwt.ErrTokenMalformed},
		{"alg none", func(t *testing.T) string { return unsigned(t, claims(nil)) }, resolve.Ref{}, jwt.ErrTokenSignatureInvalid},
		{"wrong secret", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, []byte("fedcba9876543210fedcba9876543210"), "", claims(nil))
		}, resolve.Ref{}, jwt.ErrTokenSignatureInvalid},
		{"HS512", func(t *testing.T) string { return sign(t, jwt.SigningMethodHS512, testSecret, "", claims(nil)) }, resolve.Ref{}, jwt.ErrTokenSignatureInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := bearer(tt.token(t))
			if tt.want != (resolve.Ref{}) {
				wantRef(t, j, r, tt.want)
				return
			}
			err := wantRefused(t, j, r)
			if tt.why != nil && !errors.Is(err, tt.why) {
				t.Fatalf("error %q; want it to wrap %q", err, tt.why)
			}
			if strings.Contains(err.Error(), string(testSecret)) {
				t.Fatalf("error %q shows the secret", err)
			}
		})
	}
}

func TestJWTBearerHeader(t *testing.T) {
	t.Parallel()
	j := newJWT(t, resolve.JWTConfig{Secret: testSecret})
	token := sign(t, jwt.SigningMethodHS256, testSecret, "", claims(nil))
	want := resolve.Ref{Kind: resolve.BySlug, Value: "acme", Source: "jwt"}

	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "bearer "+token) // the scheme is case-insensitive
	wantRef(t, j, r, want)

	r = httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer ")
	wantRefused(t, j, r)

	r = bearer(token)
	r.Header.Add("Authorization", "Bearer "+token)
	wantRefused(t, j, r)
}

func TestJWTCustomClaim(t *testing.T) {
	t.Parallel()
	j := newJWT(t, resolve.JWTConfig{Secret: testSecret, Claim: "org"})
	c := claims(func(c jwt.MapClaims) { c["org"] = tenantUUID })
	wantRef(t, j, bearer(sign(t, jwt.SigningMethodHS256, testSecret, "", c)),
		resolve.Ref{Kind: resolve.ByID, Value: tenantUUID, Source: "jwt"})
	wantRefused(t, j, bearer(sign(t, jwt.SigningMethodHS256, testSecret, "", claims(nil))))
}

// testKeys are generated once: RSA key generation is slow under -race.
var testKeys = sync.OnceValue(func() (k struct{ rsa1, rsa2, rsa3 *rsa.PrivateKey }) {
	for _, p := range []**rsa.PrivateKey{&k.rsa1, &k.rsa2, &k.rsa3} {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		*p = key
	}
	return k
})

func newECKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// publicKey is a key the test JWKS server publishes.
type publicKey struct {
	kid string
	alg jwkset.ALG
	key crypto.PublicKey
}

// jwksServer serves a JWK Set that tests can replace, and counts fetches.
type jwksServer struct {
	*httptest.Server
	body    atomic.Pointer[[]byte]
	fetches atomic.Int64
	fail    atomic.Bool
}

func newJWKSServer(t *testing.T, keys ...publicKey) *jwksServer {
	t.Helper()
	s := &jwksServer{}
	s.publish(t, keys...)
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.fetches.Add(1)
		if s.fail.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(*s.body.Load())
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) publish(t *testing.T, keys ...publicKey) {
	t.Helper()
	set := jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{}}
	for _, k := range keys {
		jwk, err := jwkset.NewJWKFromKey(k.key, jwkset.JWKOptions{
			Metadata: jwkset.JWKMetadataOptions{KID: k.kid, ALG: k.alg, USE: jwkset.UseSig},
		})
		if err != nil {
			t.Fatalf("build JWK %s: %v", k.kid, err)
		}
		set.Keys = append(set.Keys, jwk.Marshal())
	}
	body, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	s.body.Store(&body)
}

func (s *jwksServer) resolver(t *testing.T, cfg resolve.JWTConfig) *resolve.JWT {
	t.Helper()
	cfg.JWKSURL = s.URL + "/jwks.json"
	cfg.HTTPClient = s.Client()
	return newJWT(t, cfg)
}

func TestJWTKeySet(t *testing.T) {
	t.Parallel()
	keys := testKeys()
	ec := newECKey(t)
	srv := newJWKSServer(t,
		publicKey{"rsa1", jwkset.AlgRS256, &keys.rsa1.PublicKey},
		publicKey{"ec1", jwkset.AlgES256, &ec.PublicKey},
	)
	j := srv.resolver(t, resolve.JWTConfig{Issuer: testIssuer, Audience: testAudience})

	pkix, err := x509.MarshalPKIXPublicKey(&keys.rsa1.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkix})
	pkcs1 := x509.MarshalPKCS1PublicKey(&keys.rsa1.PublicKey)
	acme := resolve.Ref{Kind: resolve.BySlug, Value: "acme", Source: "jwt"}

	tests := []struct {
		name  string
		token func(*testing.T) string
		want  resolve.Ref // zero: refused
		why   error       // for a refusal: what the error wraps besides ErrInvalidToken
	}{
		{"RS256", func(t *testing.T) string { return sign(t, jwt.SigningMethodRS256, keys.rsa1, "rsa1", claims(nil)) }, acme, nil},
		{"ES256", func(t *testing.T) string { return sign(t, jwt.SigningMethodES256, ec, "ec1", claims(nil)) }, acme, nil},
		{"RS256 without kid tries every key", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodRS256, keys.rsa1, "", claims(nil))
		}, acme, nil},
		{"expired", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodRS256, keys.rsa1, "rsa1", claims(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() }))
		}, resolve.Ref{}, jwt.ErrTokenExpired},
		{"HS256 keyed with the RSA public key PEM", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, pemKey, "rsa1", claims(nil))
		}, resolve.Ref{}, jwt.ErrTokenSignatureInvalid},
		{"HS256 keyed with the RSA public key DER", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, pkix, "rsa1", claims(nil))
		}, resolve.Ref{}, jwt.ErrTokenSignatureInvalid},
		{"HS256 keyed with the RSA public key PKCS1", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, pkcs1, "rsa1", claims(nil))
		}, resolve.Ref{}, jwt.ErrTokenSignatureInvalid},
		{"HS256 without kid", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, testSecret, "", claims(nil))
		}, resolve.Ref{}, jwt.ErrTokenSignatureInvalid},
		{"alg none", func(t *testing.T) string { return unsigned(t, claims(nil)) }, resolve.Ref{}, jwt.ErrTokenSignatureInvalid},
		{"RS512 by a published key", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodRS512, keys.rsa1, "rsa1", claims(nil))
		}, resolve.Ref{}, jwt.ErrTokenSignatureInvalid},
		{"PS256 by a published key", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodPS256, keys.rsa1, "rsa1", claims(nil))
		}, resolve.Ref{}, jwt.ErrTokenSignatureInvalid},
		{"key not in the set", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodRS256, keys.rsa3, "rsa3", claims(nil))
		}, resolve.Ref{}, errUnknownKey},
		{"key not in the set under a published kid", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodRS256, keys.rsa3, "rsa1", claims(nil))
		}, resolve.Ref{}, jwt.ErrTokenSignatureInvalid},
		{"key not in the set without kid", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodRS256, keys.rsa3, "", claims(nil))
		}, resolve.Ref{}, jwt.ErrTokenSignatureInvalid},
		{"ES256 under an RSA kid", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodES256, ec, "rsa1", claims(nil))
		}, resolve.Ref{}, errUnknownKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.want != (resolve.Ref{}) {
				wantRef(t, j, bearer(tt.token(t)), tt.want)
				return
			}
			err := wantRefused(t, j, bearer(tt.token(t)))
			if tt.why == errUnknownKey {
				if !strings.HasSuffix(err.Error(), "signing key is unknown") {
					t.Fatalf("error %q; want it to say the signing key is unknown", err)
				}
			} else if !errors.Is(err, tt.why) {
				t.Fatalf("error %q; want it to wrap %q", err, tt.why)
			}
		})
	}
}

// TestJWTKeySetRotation follows the usual rotation: the identity provider
// publishes the new key, then signs with it, then drops the old one. The
// first token with the new kid makes the resolver fetch the set again.
func TestJWTKeySetRotation(t *testing.T) {
	t.Parallel()
	keys := testKeys()
	key1 := publicKey{"key1", jwkset.AlgRS256, &keys.rsa1.PublicKey}
	key2 := publicKey{"key2", jwkset.AlgRS256, &keys.rsa2.PublicKey}
	srv := newJWKSServer(t, key1)
	j := srv.resolver(t, resolve.JWTConfig{}) // default intervals
	acme := resolve.Ref{Kind: resolve.BySlug, Value: "acme", Source: "jwt"}
	token1 := sign(t, jwt.SigningMethodRS256, keys.rsa1, "key1", claims(nil))
	token2 := sign(t, jwt.SigningMethodRS256, keys.rsa2, "key2", claims(nil))

	wantRef(t, j, bearer(token1), acme)
	srv.publish(t, key2) // key1 retired at once
	wantRef(t, j, bearer(token2), acme)
	wantRefused(t, j, bearer(token1)) // the fetch dropped key1
}

// TestJWTKeySetRotationBeforePublish: a token signed with a key the
// identity provider has not published yet is refused, and accepted once the
// key is published, by the same resolver.
func TestJWTKeySetRotationBeforePublish(t *testing.T) {
	t.Parallel()
	keys := testKeys()
	key1 := publicKey{"key1", jwkset.AlgRS256, &keys.rsa1.PublicKey}
	key2 := publicKey{"key2", jwkset.AlgRS256, &keys.rsa2.PublicKey}
	srv := newJWKSServer(t, key1)
	j := srv.resolver(t, resolve.JWTConfig{UnknownKIDRefreshInterval: 10 * time.Millisecond})
	token2 := sign(t, jwt.SigningMethodRS256, keys.rsa2, "key2", claims(nil))

	if err := wantRefused(t, j, bearer(token2)); !strings.Contains(err.Error(), "signing key is unknown") {
		t.Fatalf("error %q; want it to say the signing key is unknown", err)
	}
	srv.publish(t, key1, key2)
	wantRef(t, j, bearer(token2), resolve.Ref{Kind: resolve.BySlug, Value: "acme", Source: "jwt"})
}

// TestJWTKeySetUnknownKIDRateLimited: made-up kids trigger at most one
// fetch per UnknownKIDRefreshInterval, and the requests over the limit are
// refused at once rather than held.
func TestJWTKeySetUnknownKIDRateLimited(t *testing.T) {
	t.Parallel()
	keys := testKeys()
	srv := newJWKSServer(t, publicKey{"key1", jwkset.AlgRS256, &keys.rsa1.PublicKey})
	j := srv.resolver(t, resolve.JWTConfig{FetchTimeout: 5 * time.Second})
	if got := srv.fetches.Load(); got != 1 {
		t.Fatalf("%d fetches after NewJWT; want 1", got)
	}
	for i := range 5 {
		r := bearer(sign(t, jwt.SigningMethodRS256, keys.rsa3, "made-up-"+string(rune('a'+i)), claims(nil)))
		ctx, cancel := context.WithTimeout(r.Context(), time.Second)
		wantRefused(t, j, r.WithContext(ctx))
		cancel()
	}
	if got := srv.fetches.Load(); got != 2 {
		t.Fatalf("%d fetches after 5 unknown kids; want 2", got)
	}
}

// TestJWTKeySetDownAtStart: NewJWT succeeds while the key set cannot be
// fetched, and verifies tokens once it can.
func TestJWTKeySetDownAtStart(t *testing.T) {
	t.Parallel()
	keys := testKeys()
	srv := newJWKSServer(t, publicKey{"key1", jwkset.AlgRS256, &keys.rsa1.PublicKey})
	srv.fail.Store(true)
	j := srv.resolver(t, resolve.JWTConfig{})
	token := sign(t, jwt.SigningMethodRS256, keys.rsa1, "key1", claims(nil))
	srv.fail.Store(false)
	wantRef(t, j, bearer(token), resolve.Ref{Kind: resolve.BySlug, Value: "acme", Source: "jwt"})
}

func TestJWTKeySetOverLoopbackHTTP(t *testing.T) {
	t.Parallel()
	keys := testKeys()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		jwk, err := jwkset.NewJWKFromKey(&keys.rsa1.PublicKey, jwkset.JWKOptions{
			Metadata: jwkset.JWKMetadataOptions{KID: "key1", ALG: jwkset.AlgRS256},
		})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_ = json.NewEncoder(w).Encode(jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{jwk.Marshal()}})
	}))
	t.Cleanup(srv.Close)
	j := newJWT(t, resolve.JWTConfig{JWKSURL: srv.URL})
	wantRef(t, j, bearer(sign(t, jwt.SigningMethodRS256, keys.rsa1, "key1", claims(nil))),
		resolve.Ref{Kind: resolve.BySlug, Value: "acme", Source: "jwt"})
	j.Close()
	j.Close() // Close may be called again
}
