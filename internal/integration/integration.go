package integration

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/google/uuid"
)

// Type is a kind of integration.
type Type string

// Types of integration.
const (
	Email   Type = "email"
	Storage Type = "storage"
	Payment Type = "payment"
	SMS     Type = "sms"
)

// Types lists every Type.
func Types() []Type { return []Type{Email, Storage, Payment, SMS} }

// Field is one named value a provider takes.
type Field struct {
	Name        string `json:"name"`
	Required    bool   `json:"required"`
	Description string `json:"description"`
}

// Spec describes a provider: the secret credentials it needs (stored
// encrypted, never shown) and the plain settings it takes.
type Spec struct {
	Type        Type    `json:"type"`
	Provider    string  `json:"provider"`
	Description string  `json:"description"`
	Credentials []Field `json:"credentials"`
	Settings    []Field `json:"settings"`
}

// Config is what a provider is built from.
type Config struct {
	// Tenant is the tenant the provider serves; uuid.Nil for the
	// platform's default.
	Tenant uuid.UUID
	// TenantSlug names the tenant, for prefixes and metadata.
	TenantSlug string
	// Credentials are the decrypted secrets, by field name.
	Credentials map[string]string
	// Settings are the plain settings, by field name.
	Settings map[string]string
	// HTTPClient makes the provider's HTTP calls. Defaults to a client
	// with a 30 s timeout.
	HTTPClient *http.Client
}

// Client returns c.HTTPClient or the default.
func (c Config) Client() *http.Client {
	if c.HTTPClient != nil {
		return c.HTTPClient
	}
	return defaultClient
}

var defaultClient = &http.Client{Timeout: 30e9}

// ErrInvalidConfig is wrapped by Validate's errors.
var ErrInvalidConfig = errors.New("integration: invalid configuration")

// Validate checks credentials and settings against s: every required
// field present and not blank, no field s does not know. Its error names
// fields, never values.
func (s Spec) Validate(credentials, settings map[string]string) error {
	var problems []string
	check := func(kind string, fields []Field, got map[string]string) {
		known := map[string]bool{}
		for _, f := range fields {
			known[f.Name] = true
			if f.Required && strings.TrimSpace(got[f.Name]) == "" {
				problems = append(problems, fmt.Sprintf("%s %q is required", kind, f.Name))
			}
		}
		var unknown []string
		for name := range got {
			if !known[name] {
				unknown = append(unknown, name)
			}
		}
		sort.Strings(unknown)
		for _, name := range unknown {
			problems = append(problems, fmt.Sprintf("%s %q is not one %s takes", kind, name, s.Provider))
		}
	}
	check("credential", s.Credentials, credentials)
	check("setting", s.Settings, settings)
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s %s: %s", ErrInvalidConfig, s.Type, s.Provider, strings.Join(problems, "; "))
	}
	return nil
}

// Tester is a provider that can check its credentials against the
// provider's service without side effects (an authenticated read).
type Tester interface {
	Test(ctx context.Context) error
}
