package cloudkms_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/google/uuid"
	"github.com/tink-crypto/tink-go-awskms/v3/integration/awskms"
	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"

	"github.com/tenantkit/tenantkit/internal/cloudkms"
	"github.com/tenantkit/tenantkit/internal/keys"
)

const arn = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"

// fakeKMS serves AWS KMS's documented JSON protocol (X-Amz-Target
// TrentService.Encrypt and TrentService.Decrypt) over httptest, encrypting
// with a Tink AEAD of its own: no AWS endpoint is reachable from here.
type fakeKMS struct {
	mu      sync.Mutex
	targets []string
	auth    []string
}

func (f *fakeKMS) serve(t *testing.T) *httptest.Server {
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		t.Fatal(err)
	}
	a, err := aead.New(h)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		target := r.Header.Get("X-Amz-Target")
		f.mu.Lock()
		f.targets, f.auth = append(f.targets, target), append(f.auth, r.Header.Get("Authorization"))
		f.mu.Unlock()
		var in struct {
			KeyId             string
			Plaintext         []byte
			CiphertextBlob    []byte
			EncryptionContext map[string]string
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ctxAD, _ := json.Marshal(in.EncryptionContext)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		switch target {
		case "TrentService.Encrypt":
			ct, err := a.Encrypt(in.Plaintext, ctxAD)
			if err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			_ = json.NewEncoder(w).Encode(map[string]string{"CiphertextBlob": base64.StdEncoding.EncodeToString(ct), "KeyId": arn})
		case "TrentService.Decrypt":
			pt, err := a.Decrypt(in.CiphertextBlob, ctxAD)
			if err != nil {
				w.WriteHeader(http.StatusBadRequest)
				_, _ = w.Write([]byte(`{"__type":"InvalidCiphertextException","message":"bad"}`))
				return
			}
			_ = json.NewEncoder(w).Encode(map[string]string{"Plaintext": base64.StdEncoding.EncodeToString(pt), "KeyId": arn})
		default:
			http.Error(w, "unknown target "+target, http.StatusBadRequest)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// memStore is a keys.Store in memory: this test is about the KMS.
type memStore struct {
	mu   sync.Mutex
	rows []keys.WrappedKey
}

func (m *memStore) TenantKeys(_ context.Context, tenant uuid.UUID) ([]keys.WrappedKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []keys.WrappedKey
	for _, k := range m.rows {
		if k.Tenant == tenant {
			out = append(out, k)
		}
	}
	return out, nil
}
func (m *memStore) InsertTenantKey(_ context.Context, k keys.WrappedKey) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rows = append(m.rows, k)
	return nil
}
func (m *memStore) Rewrap(context.Context, uuid.UUID, int, string, string, []byte) (bool, error) {
	return false, nil
}
func (m *memStore) KeysNotWrappedBy(context.Context, string, keys.WrappedKeyRef, int) ([]keys.WrappedKey, error) {
	return nil, nil
}
func (m *memStore) CountKeys(context.Context, string) (int, int, error) { return len(m.rows), 0, nil }
func (m *memStore) DestroyTenantKeys(context.Context, uuid.UUID) error  { return nil }

// TestAWSKMSWrapsDataKeysThroughTheSDK: with an AWS KMS key URI, tenants'
// data keys are wrapped and unwrapped by KMS calls the real AWS SDK makes
// (signed with SigV4), against a server speaking KMS's documented protocol.
func TestAWSKMSWrapsDataKeysThroughTheSDK(t *testing.T) {
	f := &fakeKMS{}
	srv := f.serve(t)
	client := kms.NewFromConfig(aws.Config{
		Region: "eu-west-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKIAEXAMPLEKMS", "secret-not-shown", ""),
	})
	kek, err := cloudkms.KEK(context.Background(), cloudkms.Config{KeyURI: "aws-kms://" + arn, AWSOptions: []awskms.ClientOption{awskms.WithKMS(client)}})
	if err != nil {
		t.Fatal(err)
	}
	ring, err := keys.NewKeyring(keys.KeyringConfig{Store: &memStore{}, KEKs: []keys.KEK{kek}, CacheTTL: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, tenant := context.Background(), uuid.New()
	ad := keys.AD{Integration: "i1", Field: "api_key"}
	ct, err := ring.Encrypt(ctx, tenant, ad, []byte("sk_live_via_kms"))
	if err != nil {
		t.Fatal(err)
	}
	pt, err := ring.Decrypt(ctx, tenant, ad, ct)
	if err != nil || string(pt) != "sk_live_via_kms" {
		t.Fatalf("decrypt: %q %v", pt, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.targets) < 2 || f.targets[0] != "TrentService.Encrypt" || f.targets[len(f.targets)-1] != "TrentService.Decrypt" {
		t.Fatalf("KMS calls %v", f.targets)
	}
	for _, a := range f.auth {
		if !strings.HasPrefix(a, "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLEKMS/") {
			t.Fatalf("unsigned KMS call: %q", a)
		}
	}
}

func TestUnknownKeyURIIsRefused(t *testing.T) {
	for _, uri := range []string{"", "gcp-kms://projects/p/locations/l/keyRings/r/cryptoKeys/k", "vault://x"} {
		if _, err := cloudkms.KEK(context.Background(), cloudkms.Config{KeyURI: uri}); err == nil {
			t.Errorf("%q accepted", uri)
		}
	}
}
