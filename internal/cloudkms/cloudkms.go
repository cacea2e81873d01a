// Package cloudkms gives key-encryption keys held by a cloud KMS through
// Tink's KMS clients: AWS KMS (aws-kms://arn:aws:kms:…). Google Cloud KMS
// (gcp-kms://…) is not linked yet: Tink's client for it does not resolve
// against the module versions this project builds with.
package cloudkms

import (
	"context"
	"fmt"
	"strings"

	"github.com/tink-crypto/tink-go-awskms/v3/integration/awskms"
	"github.com/tink-crypto/tink-go/v2/core/registry"

	"github.com/tenantkit/tenantkit/internal/keys"
)

// Config names a cloud KMS key.
type Config struct {
	// KeyURI is the key: aws-kms://arn:aws:kms:REGION:ACCOUNT:key/ID.
	// Required.
	KeyURI string
	// CredentialsFile holds the client's credentials, a CSV or INI AWS
	// credentials file. Defaults to the SDK's default credential chain.
	CredentialsFile string
	// AWSOptions are extra AWS client options (an injected client, say).
	// Defaults to none.
	AWSOptions []awskms.ClientOption
}

// KEK returns the key-encryption key cfg names. The client is built now;
// the KMS is first called when a data key is wrapped or unwrapped.
func KEK(ctx context.Context, cfg Config) (*keys.Remote, error) {
	var (
		client registry.KMSClient
		err    error
	)
	switch {
	case strings.HasPrefix(cfg.KeyURI, "aws-kms://"):
		opts := cfg.AWSOptions
		if cfg.CredentialsFile != "" {
			opts = append(opts, awskms.WithCredentialPath(cfg.CredentialsFile))
		}
		client, err = awskms.NewClientWithOptions(ctx, cfg.KeyURI, opts...)
	default:
		return nil, fmt.Errorf("cloudkms: key URI %q: want aws-kms:// (gcp-kms:// is not linked yet)", cfg.KeyURI)
	}
	if err != nil {
		return nil, fmt.Errorf("cloudkms: %s client: %w", strings.SplitN(cfg.KeyURI, ":", 2)[0], err)
	}
	return keys.KMSKEK(client, cfg.KeyURI)
}
