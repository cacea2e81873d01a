// Package payment charges through a tenant's own payment provider account
// (Stripe) behind a small [Account] interface: check the credentials,
// create a customer, create a payment intent; and verifies the provider's
// signed webhooks ([WebhookVerifier]).
//
// [New] builds an Account from an [integration.Config] after checking it
// against the provider's [integration.Spec]; every Account is also an
// [integration.Tester] whose Test makes an authenticated read that changes
// nothing. Each Account has its own client, key and backend, never the
// Stripe library's global key, so tenants cannot cross. Every object it
// creates carries the tenant in its metadata ("tenant", and "tenant_slug"
// when known).
//
// No error, log line or formatted value of an Account holds a credential:
// provider errors are rebuilt as [*ProviderError] with every credential
// value removed, the Stripe library's own logging is off, and an Account
// prints as its provider and tenant only.
package payment
