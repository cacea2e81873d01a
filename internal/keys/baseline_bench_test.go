package keys_test

import (
	"testing"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"
)

// BenchmarkTinkDecrypt is DecryptCachedKey's floor, for make bench: Tink's
// AES256-GCM decrypt of the same credential with a key in hand — no
// header, no tenant binding, no cache lookup.
func BenchmarkTinkDecrypt(b *testing.B) {
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		b.Fatal(err)
	}
	a, err := aead.New(h)
	if err != nil {
		b.Fatal(err)
	}
	ad := []byte("tenant/integration/field")
	ct, err := a.Encrypt(credential, ad)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Decrypt(ct, ad); err != nil {
			b.Fatal(err)
		}
	}
}
