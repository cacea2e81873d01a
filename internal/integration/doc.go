// Package integration holds what every provider package shares: the kinds
// of integration a tenant can bring (email, storage, payment, sms), the
// description of a provider's fields, and the configuration a provider is
// built from. Provider packages (internal/email, internal/storage,
// internal/payment, internal/sms) describe themselves with Spec; the
// tenant registry validates a configuration against its Spec when it is
// set, not at send time, and never shows a credential.
package integration
