// Package sms sends a tenant's text messages through the provider the
// tenant configured (Twilio) behind one small [Sender] interface.
//
// [New] builds a Sender from an [integration.Config] after checking it
// against the provider's [integration.Spec]; every Sender is also an
// [integration.Tester] whose Test reads the account without sending
// anything. Phone numbers are E.164 ([CheckNumber]). Provider failures come
// back as [*ProviderError] naming the HTTP status and the provider's code
// and message; no error, log line or formatted value of a Sender holds a
// credential.
package sms
