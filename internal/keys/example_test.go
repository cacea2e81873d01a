package keys_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/google/uuid"

	"github.com/tenantkit/tenantkit/internal/keys"
)

func ExampleKeyring() {
	dir, _ := os.MkdirTemp("", "keys-example")
	defer os.RemoveAll(dir)
	kek, err := keys.LocalKEK(keys.LocalConfig{Path: filepath.Join(dir, "kek.json"), Create: true})
	if err != nil {
		panic(err)
	}
	ring, err := keys.NewKeyring(keys.KeyringConfig{Store: newMemStore(), KEKs: []keys.KEK{kek}})
	if err != nil {
		panic(err)
	}
	ctx, tenant := context.Background(), uuid.New()
	ad := keys.AD{Integration: "4f1d2c9e-smtp", Field: "password"}
	ct, err := ring.Encrypt(ctx, tenant, ad, []byte("correct horse battery staple"))
	if err != nil {
		panic(err)
	}
	pt, err := ring.Decrypt(ctx, tenant, ad, ct)
	fmt.Println(string(pt), err)
	_, err = ring.Decrypt(ctx, tenant, keys.AD{Integration: ad.Integration, Field: "username"}, ct)
	fmt.Println(err != nil)
	fmt.Println(keys.Mask(string(pt)))
	// Output:
	// correct horse battery staple <nil>
	// true
	// ••••aple
}
