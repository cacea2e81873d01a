package keys

import (
	"errors"

	"github.com/tink-crypto/tink-go/v2/tink"
)

// KEK is a key-encryption key: the AEAD that wraps tenants' data keys, and
// the ID recorded with every key it wraps, by which a Keyring finds the KEK
// to unwrap it with. The ID changes when the KEK's primary key changes (a
// Local after Rotate) so that RewrapAll can tell what is left to re-wrap.
type KEK interface {
	ID() string
	AEAD() tink.AEAD
}

// Holder is a KEK that holds more keys than its primary and so unwraps data
// keys wrapped under other IDs too: a Local keeps its former primaries after
// Rotate. A Keyring discovers it with a type assertion.
type Holder interface {
	KEK
	// Holds reports whether the KEK's AEAD unwraps what was wrapped under
	// kekID.
	Holds(kekID string) bool
}

// Errors of the package. They name tenants, versions and KEK IDs, never
// plaintext or key material.
var (
	// ErrDecrypt is returned when a ciphertext does not decrypt: it is not
	// one of ours, was altered, or belongs to another tenant, integration
	// or field.
	ErrDecrypt = errors.New("keys: ciphertext does not decrypt")
	// ErrKeyDestroyed is returned when the ciphertext's data key is gone:
	// the tenant has no key of that version nor any older one, as after
	// Shred. (A ciphertext moved from another tenant to a tenant without
	// keys looks the same.)
	ErrKeyDestroyed = errors.New("keys: tenant data key destroyed")
	// ErrNoKey is returned when the ciphertext names a data key version
	// newer than any the tenant has.
	ErrNoKey = errors.New("keys: no such tenant data key")
	// ErrKeyExists is what a Store's InsertTenantKey wraps when the
	// tenant already has a key of that version.
	ErrKeyExists = errors.New("keys: tenant data key version exists")
	// ErrUnknownKEK is returned when no configured KEK unwraps a stored
	// key: the KEK that wrapped it is not in KeyringConfig.KEKs.
	ErrUnknownKEK = errors.New("keys: no configured KEK unwraps the key")
	// ErrInsecureKeyFile is returned when a local KEK file can be read or
	// written by group or others.
	ErrInsecureKeyFile = errors.New("keys: local KEK file is open to group or others")
)
