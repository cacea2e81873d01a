package registry

import (
	"context"

	"github.com/google/uuid"

	"github.com/tenantkit/tenantkit/internal/keys"
)

// KeyringCipher is a Keyring as the registry's Cipher: each credential is
// bound to its tenant, integration and field.
type KeyringCipher struct{ Keyring *keys.Keyring }

// Encrypt implements Cipher.
func (c KeyringCipher) Encrypt(ctx context.Context, tenant uuid.UUID, integrationID, field string, plaintext []byte) ([]byte, error) {
	return c.Keyring.Encrypt(ctx, tenant, keys.AD{Integration: integrationID, Field: field}, plaintext)
}

// Decrypt implements Cipher.
func (c KeyringCipher) Decrypt(ctx context.Context, tenant uuid.UUID, integrationID, field string, ciphertext []byte) ([]byte, error) {
	return c.Keyring.Decrypt(ctx, tenant, keys.AD{Integration: integrationID, Field: field}, ciphertext)
}
