// Package keys encrypts tenants' integration credentials with envelope
// encryption, every primitive from Tink: each tenant has its own data key (a
// Tink AES256-GCM keyset, in versions 1, 2, …), stored only wrapped by a
// key-encryption key (KEK) from a KMS — a local keyset file for development
// and single nodes, or HashiCorp Vault's transit engine. A Keyring encrypts
// and decrypts for a tenant, binding the ciphertext to the tenant, the
// integration and the field, so that a ciphertext copied elsewhere does not
// decrypt; it keeps unwrapped data keys in memory for a while, re-wraps every
// data key online after the KEK is rotated (RewrapAll), and crypto-shreds a
// tenant by destroying its wrapped keys (Shred). The wrapped keys live in a
// Store, which the catalog implements.
//
// A ciphertext is a 7-byte header — the magic "tk", format version 1, and
// the data key version as a big-endian uint32 — followed by Tink's AEAD
// ciphertext (key prefix, nonce, sealed data, tag). Tink's associated data is
// the header, the tenant id (16 bytes), and the integration and field, each
// preceded by its length as a uvarint. A wrapped data key is its keyset
// encrypted with keyset.Handle.WriteWithAssociatedData in binary form, the
// associated data being "tenantkit/keys/wrap/v1", a zero byte, the tenant id
// and the version as a big-endian uint32.
//
// The local KEK file is a cleartext Tink keyset (insecurecleartextkeyset):
// that is what a local key file is, guarded by its mode 0600 alone.
//
// Cloud KMSes (AWS KMS, Google Cloud KMS) plug in through KMSKEK with a Tink
// KMS client; this package does not link their SDKs.
package keys
