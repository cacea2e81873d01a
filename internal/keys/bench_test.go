package keys_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/tenantkit/tenantkit/internal/keys"
)

// credential is about the size of a provider's API key.
var credential = []byte("sk_live_51HcXyZ0123456789abcdefABCDEF0123456789abcdefghijklmnopq")

func BenchmarkDecryptCachedKey(b *testing.B) {
	s := setup(b)
	ctx := context.Background()
	tenant := uuid.New()
	ad := keys.AD{Integration: uuid.NewString(), Field: "api_key"}
	ct := encrypt(b, s.ring, tenant, ad, string(credential))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.ring.Decrypt(ctx, tenant, ad, ct); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncryptCachedKey(b *testing.B) {
	s := setup(b)
	ctx := context.Background()
	tenant := uuid.New()
	ad := keys.AD{Integration: uuid.NewString(), Field: "api_key"}
	encrypt(b, s.ring, tenant, ad, "warm the cache")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.ring.Encrypt(ctx, tenant, ad, credential); err != nil {
			b.Fatal(err)
		}
	}
}
