package keys_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"
	"github.com/hashicorp/vault/api"
	"github.com/tink-crypto/tink-go-hcvault/v2/integration/hcvault"
	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/tenantkit/tenantkit/internal/keys"
)

// fakeTransit implements the two endpoints of Vault's transit secrets engine
// that a KEK uses, as Vault documents them: POST (or PUT, which Vault treats
// the same) /v1/<mount>/encrypt/<name> with {"plaintext": base64,
// "associated_data"?: base64, "context"?: base64} answering
// {"data":{"ciphertext":"vault:v1:…"}}, and /v1/<mount>/decrypt/<name> with
// {"ciphertext": "vault:v1:…", …} answering {"data":{"plaintext": base64}};
// errors as {"errors":[…]}. No Vault-compatible server installs here, so
// this stands in for one; its encryption is Tink's AES256-GCM.
type fakeTransit struct {
	token    string
	mount    string
	key      string
	aead     tink.AEAD
	encrypts atomic.Int64
	decrypts atomic.Int64
}

func newFakeTransit(t *testing.T) (*fakeTransit, *httptest.Server) {
	t.Helper()
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		t.Fatal(err)
	}
	a, err := aead.New(h)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeTransit{token: "s.test-token", mount: "transit", key: "tenantkit", aead: a}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

type transitRequest struct {
	Plaintext      string `json:"plaintext"`
	Ciphertext     string `json:"ciphertext"`
	AssociatedData string `json:"associated_data"`
	Context        string `json:"context"`
}

func (f *fakeTransit) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		transitError(w, http.StatusMethodNotAllowed, "unsupported operation")
		return
	}
	if r.Header.Get("X-Vault-Token") != f.token {
		transitError(w, http.StatusForbidden, "permission denied")
		return
	}
	var req transitRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		transitError(w, http.StatusBadRequest, "bad JSON")
		return
	}
	ad, err := base64.StdEncoding.DecodeString(req.AssociatedData + req.Context)
	if err != nil {
		transitError(w, http.StatusBadRequest, "associated_data is not base64")
		return
	}
	switch r.URL.Path {
	case "/v1/" + f.mount + "/encrypt/" + f.key:
		f.encrypts.Add(1)
		pt, err := base64.StdEncoding.DecodeString(req.Plaintext)
		if err != nil {
			transitError(w, http.StatusBadRequest, "plaintext is not base64")
			return
		}
		ct, err := f.aead.Encrypt(pt, ad)
		if err != nil {
			transitError(w, http.StatusInternalServerError, err.Error())
			return
		}
		transitData(w, map[string]any{"ciphertext": "vault:v1:" + base64.StdEncoding.EncodeToString(ct), "key_version": 1})
	case "/v1/" + f.mount + "/decrypt/" + f.key:
		f.decrypts.Add(1)
		raw, ok := strings.CutPrefix(req.Ciphertext, "vault:v1:")
		ct, err := base64.StdEncoding.DecodeString(raw)
		if !ok || err != nil {
			transitError(w, http.StatusBadRequest, "invalid ciphertext")
			return
		}
		pt, err := f.aead.Decrypt(ct, ad)
		if err != nil {
			transitError(w, http.StatusBadRequest, "cipher: message authentication failed")
			return
		}
		transitData(w, map[string]any{"plaintext": base64.StdEncoding.EncodeToString(pt)})
	default:
		transitError(w, http.StatusNotFound, "no handler for route")
	}
}

func transitData(w http.ResponseWriter, data map[string]any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"data": data})
}

func transitError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{"errors": []string{msg}})
}

func vaultKEK(t *testing.T, f *fakeTransit, srv *httptest.Server, token string) *keys.Remote {
	t.Helper()
	k, err := keys.VaultKEK(keys.VaultConfig{Address: srv.URL, Token: token, KeyName: f.key, HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestVaultKEK(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f, srv := newFakeTransit(t)
	kek := vaultKEK(t, f, srv, f.token)
	if kek.ID() != "vault:transit/tenantkit" {
		t.Fatalf("ID = %q", kek.ID())
	}
	store := newMemStore()
	ring := newKeyring(t, keys.KeyringConfig{Store: store, KEKs: []keys.KEK{kek}})
	tenant := uuid.New()
	ad := keys.AD{Integration: "i", Field: "token"}
	ct := encrypt(t, ring, tenant, ad, secret)
	ks := store.snapshot()
	if len(ks) != 1 || ks[0].KEKID != kek.ID() || !bytes.Contains(ks[0].Wrapped, []byte("vault:v1:")) {
		t.Fatalf("stored key = %+v; want it wrapped by Vault", ks)
	}
	if f.encrypts.Load() != 1 {
		t.Fatalf("Vault encrypt calls = %d, want 1", f.encrypts.Load())
	}
	mustDecrypt(t, ring, tenant, ad, ct, secret)
	if f.decrypts.Load() != 0 {
		t.Fatal("a cached key was unwrapped again")
	}
	fresh := newKeyring(t, keys.KeyringConfig{Store: store, KEKs: []keys.KEK{kek}, CacheTTL: -1})
	mustDecrypt(t, fresh, tenant, ad, ct, secret)
	if f.decrypts.Load() != 1 {
		t.Fatalf("Vault decrypt calls = %d, want 1", f.decrypts.Load())
	}

	// The tenant binding reaches Vault as associated_data: the wrapped key
	// moved to another tenant does not unwrap.
	moved := ks[0]
	moved.Tenant = uuid.New()
	if err := store.InsertTenantKey(ctx, moved); err != nil {
		t.Fatal(err)
	}
	if _, err := fresh.Decrypt(ctx, moved.Tenant, ad, ct); err == nil || !strings.Contains(err.Error(), "unwrap") {
		t.Fatalf("a Vault-wrapped key moved to another tenant: %v, want an unwrap failure", err)
	}
}

func TestVaultKEKWrongToken(t *testing.T) {
	t.Parallel()
	f, srv := newFakeTransit(t)
	ring := newKeyring(t, keys.KeyringConfig{Store: newMemStore(), KEKs: []keys.KEK{vaultKEK(t, f, srv, "s.wrong")}})
	_, err := ring.Encrypt(context.Background(), uuid.New(), keys.AD{}, []byte(secret))
	if err == nil || !strings.Contains(err.Error(), "permission denied") || strings.Contains(err.Error(), secret) {
		t.Fatalf("Encrypt with a wrong Vault token: %v, want permission denied", err)
	}
}

func TestVaultConfigValidates(t *testing.T) {
	t.Parallel()
	for _, cfg := range []keys.VaultConfig{
		{Token: "t", KeyName: "k"},
		{Address: "http://127.0.0.1:8200", KeyName: "k"},
		{Address: "http://127.0.0.1:8200", Token: "t"},
		{Address: "http://127.0.0.1:8200", Token: "t", KeyName: "a/b"},
	} {
		if _, err := keys.VaultKEK(cfg); err == nil {
			t.Errorf("VaultKEK(%+v) succeeded", cfg)
		}
	}
}

// Moving from the local KEK to Vault: RewrapAll with [vault, local], then
// Vault alone decrypts everything.
func TestRewrapFromLocalToVault(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f, srv := newFakeTransit(t)
	vault := vaultKEK(t, f, srv, f.token)
	b := setup(t)
	tenants := uuids(12)
	before := writeBefore(t, b.ring, tenants)
	ring := newKeyring(t, keys.KeyringConfig{Store: b.store, KEKs: []keys.KEK{vault, b.kek}, RewrapPageSize: 5})
	res, err := ring.RewrapAll(ctx, nil)
	if err != nil || res.Rewrapped != 12 || res.Remaining != 0 || res.KEKID != vault.ID() {
		t.Fatalf("RewrapAll = %+v, %v; want 12 keys re-wrapped by Vault", res, err)
	}
	assertAllWrappedBy(t, b.store, vault.ID())
	assertDecrypts(t, newKeyring(t, keys.KeyringConfig{Store: b.store, KEKs: []keys.KEK{vault}, CacheTTL: -1}), before)
}

// KMSKEK is the seam for cloud KMSes: any Tink registry.KMSClient by key
// URI. AWS KMS (tink-go-awskms, aws-kms://…) and Google Cloud KMS
// (tink-go-gcpkms, gcp-kms://…) clients are not linked in and cannot be
// reached from here (no cloud); this exercises the seam with Tink's Vault
// KMS client against the fake transit server.
func TestKMSKEK(t *testing.T) {
	t.Parallel()
	f, srv := newFakeTransit(t)
	vc := api.DefaultConfig()
	vc.Address, vc.HttpClient = srv.URL, srv.Client()
	client, err := api.NewClient(vc)
	if err != nil {
		t.Fatal(err)
	}
	client.SetToken(f.token)
	prefix := "hcvault://" + strings.TrimPrefix(srv.URL, "http://")
	kms, err := hcvault.NewClientWithAEADOptions(prefix, client.Logical())
	if err != nil {
		t.Fatal(err)
	}
	uri := prefix + "/transit/keys/" + f.key
	kek, err := keys.KMSKEK(kms, uri)
	if err != nil {
		t.Fatal(err)
	}
	if kek.ID() != uri {
		t.Fatalf("ID = %q, want the key URI", kek.ID())
	}
	ring := newKeyring(t, keys.KeyringConfig{Store: newMemStore(), KEKs: []keys.KEK{kek}, CacheTTL: -1})
	tenant := uuid.New()
	ct := encrypt(t, ring, tenant, keys.AD{Field: "f"}, secret)
	mustDecrypt(t, ring, tenant, keys.AD{Field: "f"}, ct, secret)
	if f.decrypts.Load() == 0 {
		t.Fatal("the KMS was not called to unwrap")
	}
	for _, other := range []string{"aws-kms://arn:aws:kms:eu-west-1:123456789012:key/x", "gcp-kms://projects/p/locations/l/keyRings/r/cryptoKeys/k"} {
		if _, err := keys.KMSKEK(kms, other); err == nil || !strings.Contains(err.Error(), "does not serve") {
			t.Fatalf("KMSKEK(%q) with a Vault client: %v, want refused", other, err)
		}
	}
}
