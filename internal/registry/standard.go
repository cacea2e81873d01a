package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"

	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/cloudkms"
	"github.com/tenantkit/tenantkit/internal/email"
	"github.com/tenantkit/tenantkit/internal/integration"
	"github.com/tenantkit/tenantkit/internal/keys"
	"github.com/tenantkit/tenantkit/internal/payment"
	"github.com/tenantkit/tenantkit/internal/sms"
	"github.com/tenantkit/tenantkit/internal/storage"
)

// Kinds are the types tenantkit serves, with every provider of each.
func Kinds() map[integration.Type]Kind {
	return map[integration.Type]Kind{
		integration.Email:   {Specs: email.Specs, New: func(p string, c integration.Config) (any, error) { return email.New(p, c) }},
		integration.Storage: {Specs: storage.Specs, New: func(p string, c integration.Config) (any, error) { return storage.New(p, c) }},
		integration.Payment: {Specs: payment.Specs, New: func(p string, c integration.Config) (any, error) { return payment.New(p, c) }},
		integration.SMS:     {Specs: sms.Specs, New: func(p string, c integration.Config) (any, error) { return sms.New(p, c) }},
	}
}

// KMSConfig says where the key-encryption key comes from: exactly one of
// a local key file, Vault transit, or a cloud KMS key (AWS KMS).
type KMSConfig struct {
	// KeyFile is a local Tink keyset file (0600), created when missing if
	// CreateKeyFile. For dev and single-node use.
	KeyFile       string
	CreateKeyFile bool
	// Vault, when its Address is set, is Vault transit.
	Vault keys.VaultConfig
	// KeyURI is a cloud KMS key (aws-kms://arn:aws:kms:…), with the
	// client's CredentialsFile (default: the SDK's credential chain).
	KeyURI, CredentialsFile string
}

// KEK returns the key-encryption key c names.
func (c KMSConfig) KEK() (keys.KEK, error) {
	n := 0
	for _, set := range []bool{c.KeyFile != "", c.Vault.Address != "", c.KeyURI != ""} {
		if set {
			n++
		}
	}
	switch {
	case n != 1:
		return nil, errors.New("registry: give exactly one key-encryption key: a key file, Vault transit or a cloud KMS key URI")
	case c.KeyFile != "":
		return keys.LocalKEK(keys.LocalConfig{Path: c.KeyFile, Create: c.CreateKeyFile})
	case c.Vault.Address != "":
		return keys.VaultKEK(c.Vault)
	default:
		return cloudkms.KEK(context.Background(), cloudkms.Config{KeyURI: c.KeyURI, CredentialsFile: c.CredentialsFile})
	}
}

// StandardConfig configures Standard.
type StandardConfig struct {
	// Store is the catalog. Required.
	Store *catalog.Store
	// KMS gives the key-encryption key. Required.
	KMS KMSConfig
	// Defaults are the platform's own accounts. Defaults to none.
	Defaults map[integration.Type]Default
	// HTTPClient makes providers' HTTP calls. Defaults to theirs.
	HTTPClient *http.Client
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Standard builds the keyring and a registry of every kind on it.
func Standard(cfg StandardConfig) (*Registry, *keys.Keyring, error) {
	kek, err := cfg.KMS.KEK()
	if err != nil {
		return nil, nil, err
	}
	kr, err := keys.NewKeyring(keys.KeyringConfig{Store: cfg.Store.Keys(), KEKs: []keys.KEK{kek}, Logger: cfg.Logger})
	if err != nil {
		return nil, nil, err
	}
	r, err := New(Config{Store: cfg.Store, Cipher: KeyringCipher{Keyring: kr}, Kinds: Kinds(),
		Defaults: cfg.Defaults, HTTPClient: cfg.HTTPClient, Logger: cfg.Logger})
	if err != nil {
		return nil, nil, err
	}
	return r, kr, nil
}

// PlatformFile is the platform's integration defaults as a JSON file
// holds them: {"email": {"provider": "smtp", "settings": {…},
// "credentials": {…}}, "email_from": "Platform <no-reply@…>"}.
type PlatformFile struct {
	Defaults  map[integration.Type]Default
	EmailFrom string
}

// ReadPlatformFile reads the platform's defaults from path; "" gives
// none. The file holds platform secrets: it must not be readable by group
// or others.
func ReadPlatformFile(path string) (PlatformFile, error) {
	out := PlatformFile{Defaults: map[integration.Type]Default{}}
	if path == "" {
		return out, nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return out, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return out, fmt.Errorf("registry: %s holds secrets but is readable by others (mode %o): chmod 600 it", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return out, err
	}
	return parsePlatform(b, path)
}

func parsePlatform(b []byte, path string) (PlatformFile, error) {
	out := PlatformFile{Defaults: map[integration.Type]Default{}}
	var raw map[string]jsonDefault
	var from struct {
		EmailFrom string `json:"email_from"`
	}
	if err := unmarshalStrict(b, &from, &raw); err != nil {
		return out, fmt.Errorf("registry: %s: %w", path, err)
	}
	out.EmailFrom = from.EmailFrom
	for k, d := range raw {
		if k == "email_from" {
			continue
		}
		if !knownType(k) {
			return out, fmt.Errorf("registry: %s: unknown integration type %q (one of email, storage, payment, sms)", path, k)
		}
		out.Defaults[integration.Type(k)] = Default{Provider: d.Provider, Credentials: d.Credentials, Settings: d.Settings}
	}
	return out, nil
}

func knownType(s string) bool {
	for _, t := range integration.Types() {
		if string(t) == s {
			return true
		}
	}
	return false
}

type jsonDefault struct {
	Provider    string            `json:"provider"`
	Credentials map[string]string `json:"credentials"`
	Settings    map[string]string `json:"settings"`
}

// ParseAddress reads "Name <addr>" or "addr".
func ParseAddress(s string) (email.Address, error) {
	s = strings.TrimSpace(s)
	if name, rest, ok := strings.Cut(s, "<"); ok && strings.HasSuffix(rest, ">") {
		return email.Address{Name: strings.TrimSpace(name), Email: strings.TrimSuffix(rest, ">")}, nil
	}
	if s == "" || !strings.Contains(s, "@") {
		return email.Address{}, fmt.Errorf("registry: %q is not an email address", s)
	}
	return email.Address{Email: s}, nil
}
