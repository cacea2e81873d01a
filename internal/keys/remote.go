package keys

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/hashicorp/vault/api"
	"github.com/tink-crypto/tink-go-hcvault/v2/integration/hcvault"
	"github.com/tink-crypto/tink-go/v2/core/registry"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// Remote is a KEK whose key never leaves a KMS: every wrap and unwrap is a
// call to it. VaultKEK and KMSKEK return one.
type Remote struct {
	id   string
	aead tink.AEAD
}

// ID returns the KEK's ID.
func (r *Remote) ID() string { return r.id }

// AEAD returns the AEAD that calls the KMS.
func (r *Remote) AEAD() tink.AEAD { return r.aead }

// KMSKEK returns the KEK keyURI names at a Tink KMS client, with keyURI as
// its ID. It is how a cloud KMS plugs in: Tink's AWS KMS client
// (tink-go-awskms, URIs aws-kms://arn:aws:kms:…) and Google Cloud KMS client
// (tink-go-gcpkms, URIs gcp-kms://projects/…/cryptoKeys/…) are
// registry.KMSClients; this package does not link them.
func KMSKEK(client registry.KMSClient, keyURI string) (*Remote, error) {
	if !client.Supported(keyURI) {
		return nil, fmt.Errorf("KMS KEK: the client does not serve %q", keyURI)
	}
	a, err := client.GetAEAD(keyURI)
	if err != nil {
		return nil, fmt.Errorf("KMS KEK %q: %w", keyURI, err)
	}
	return &Remote{id: keyURI, aead: a}, nil
}

// VaultConfig configures VaultKEK.
type VaultConfig struct {
	// Address is Vault's address, such as https://vault.internal:8200.
	// Defaults to nothing: it is required.
	Address string
	// Token authenticates to Vault; its policy needs update on
	// <Mount>/encrypt/<KeyName> and <Mount>/decrypt/<KeyName>. Defaults to
	// nothing: it is required.
	Token string
	// KeyName is the transit key: an AEAD key type (aes256-gcm96, the
	// default of `vault write -f transit/keys/NAME`) without derivation.
	// Defaults to nothing: it is required.
	KeyName string
	// Mount is the path the transit engine is mounted at. Defaults to
	// "transit".
	Mount string
	// ID is the KEK's ID, recorded with every key it wraps. Defaults to
	// "vault:<Mount>/<KeyName>"; set it when two Vault clusters serve keys
	// of the same mount and name.
	ID string
	// HTTPClient makes the calls to Vault. Defaults to the Vault API
	// client's own (pooled, TLS 1.2 or later, 60 s timeout).
	HTTPClient *http.Client
}

func (c VaultConfig) validate() error {
	var errs []error
	if c.Address == "" {
		errs = append(errs, errors.New("Address is required"))
	}
	if c.Token == "" {
		errs = append(errs, errors.New("Token is required"))
	}
	if c.KeyName == "" || strings.Contains(c.KeyName, "/") {
		errs = append(errs, errors.New("KeyName is required, without a slash"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("vault KEK: %w", err)
	}
	return nil
}

// VaultKEK returns the KEK kept in Vault's transit engine. Wrapping is
// POST /v1/<Mount>/encrypt/<KeyName> and unwrapping POST
// /v1/<Mount>/decrypt/<KeyName>, through Tink's Vault integration; the
// associated data binding a data key to its tenant and version is sent as
// transit's associated_data. Vault's own key rotation (transit/keys/NAME/
// rotate) keeps the ID: its ciphertexts name their key version. Settings the
// config leaves unset, such as the CA certificate or namespace, come from
// the VAULT_* environment variables as in Vault's own client.
func VaultKEK(cfg VaultConfig) (*Remote, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	mount := strings.Trim(cfg.Mount, "/")
	if mount == "" {
		mount = "transit"
	}
	id := cfg.ID
	if id == "" {
		id = "vault:" + mount + "/" + cfg.KeyName
	}
	vc := api.DefaultConfig()
	if vc.Error != nil {
		return nil, fmt.Errorf("vault KEK: %w", vc.Error)
	}
	vc.Address = cfg.Address
	if cfg.HTTPClient != nil {
		vc.HttpClient = cfg.HTTPClient
	}
	client, err := api.NewClient(vc)
	if err != nil {
		return nil, fmt.Errorf("vault KEK: %w", err)
	}
	client.SetToken(cfg.Token)
	a, err := hcvault.NewAEAD("/"+mount+"/keys/"+cfg.KeyName, client.Logical())
	if err != nil {
		return nil, fmt.Errorf("vault KEK: %w", err)
	}
	return &Remote{id: id, aead: a}, nil
}
