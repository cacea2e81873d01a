// Package email sends a tenant's mail through the provider the tenant
// configured (SMTP, SendGrid, Amazon SES v2, Resend or Postmark) behind one
// small [Sender] interface, and renders branded messages from templates.
//
// [New] builds a Sender from an [integration.Config] after checking it
// against the provider's [integration.Spec]; every Sender is also an
// [integration.Tester] whose Test checks the credentials without sending
// mail. Provider failures come back as [*ProviderError] naming the provider
// and the HTTP status (or SMTP reply code) with a short excerpt of the
// provider's message; no error, log line or formatted value of a Sender ever
// holds a credential.
//
// [Renderer] turns a named [Template] plus a tenant's [Branding] into a
// subject, a plain-text body and an HTML body wrapped in a branded layout;
// [ChooseFrom] decides which From address a tenant may use.
package email
