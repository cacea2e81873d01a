package email_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/tenantkit/tenantkit/internal/email"
	"github.com/tenantkit/tenantkit/internal/integration"
)

const (
	sesKeyID  = "AKIAIOSFODNN7EXAMPLE"
	sesSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

func sesSender(t *testing.T, a *api, settings map[string]string) email.Sender {
	t.Helper()
	all := map[string]string{"region": "eu-west-1", "endpoint": a.URL}
	for k, v := range settings {
		all[k] = v
	}
	return newSender(t, email.ProviderSES, map[string]string{"access_key_id": sesKeyID, "secret_access_key": sesSecret}, all)
}

// assertSigV4 checks that r is signed with the access key for SES in the
// region, and that the secret key travels nowhere in it.
func assertSigV4(t *testing.T, r request) {
	t.Helper()
	auth := r.Header.Get("Authorization")
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential="+sesKeyID+"/") ||
		!strings.Contains(auth, "/eu-west-1/ses/aws4_request") ||
		!strings.Contains(auth, "Signature=") {
		t.Errorf("Authorization = %q, want SigV4 for %s in eu-west-1/ses", auth, sesKeyID)
	}
	if r.Header.Get("X-Amz-Date") == "" {
		t.Error("no X-Amz-Date header")
	}
	for name, values := range r.Header {
		for _, v := range values {
			assertNoSecrets(t, name+": "+v, sesSecret)
		}
	}
	assertNoSecrets(t, string(r.Body), sesSecret)
}

func TestSESSend(t *testing.T) {
	t.Parallel()
	a := newAPI(t, map[string]reply{"POST /v2/email/outbound-emails": {Status: 200, Body: `{"MessageId":"0102018d-ses-id"}`}})
	s := sesSender(t, a, map[string]string{"configuration_set": "transactional"})

	id, err := s.Send(testCtx(t), fullMessage())
	if err != nil {
		t.Fatal(err)
	}
	if id != "0102018d-ses-id" {
		t.Errorf("id = %q", id)
	}
	r := a.only(t)
	if r.Method != http.MethodPost || r.Path != "/v2/email/outbound-emails" {
		t.Errorf("request = %s %s", r.Method, r.Path)
	}
	assertSigV4(t, r)
	assertHeader(t, r, "Content-Type", "application/json")
	assertJSON(t, r.Body, `{
		"FromEmailAddress": "\"Globex\" <hello@globex.example>",
		"Destination": {
			"ToAddresses": ["\"Ada Lovelace\" <ada@example.com>", "bob@example.com"],
			"CcAddresses": ["\"Ops\" <ops@example.com>"],
			"BccAddresses": ["audit@example.com"]
		},
		"ReplyToAddresses": ["\"Help\" <help@globex.example>"],
		"Content": {"Simple": {
			"Subject": {"Data": "Your invoice", "Charset": "UTF-8"},
			"Body": {
				"Text": {"Data": "Your invoice is ready.", "Charset": "UTF-8"},
				"Html": {"Data": "<p>Your invoice is <b>ready</b>.</p>", "Charset": "UTF-8"}
			},
			"Headers": [
				{"Name": "List-Unsubscribe", "Value": "<https://globex.example/u>"},
				{"Name": "X-Tenant", "Value": "globex"}
			]
		}},
		"EmailTags": [{"Name": "category", "Value": "invoice"}],
		"ConfigurationSetName": "transactional"
	}`)
}

func TestSESSendTextOnlyWithoutExtras(t *testing.T) {
	t.Parallel()
	a := newAPI(t, map[string]reply{"POST /v2/email/outbound-emails": {Status: 200, Body: `{"MessageId":"m-2"}`}})
	s := sesSender(t, a, nil)
	if _, err := s.Send(testCtx(t), minimalMessage()); err != nil {
		t.Fatal(err)
	}
	assertJSON(t, a.only(t).Body, `{
		"FromEmailAddress": "\"Platform\" <no-reply@platform.example>",
		"Destination": {"ToAddresses": ["ada@example.com"]},
		"Content": {"Simple": {
			"Subject": {"Data": "Hello", "Charset": "UTF-8"},
			"Body": {"Text": {"Data": "Hello, Ada.", "Charset": "UTF-8"}}
		}}
	}`)
}

func TestSESRefusal(t *testing.T) {
	t.Parallel()
	a := newAPI(t, map[string]reply{"POST /v2/email/outbound-emails": {Status: 403,
		Header: map[string]string{"X-Amzn-ErrorType": "SignatureDoesNotMatch"},
		Body:   `{"message":"The request signature we calculated does not match the signature you provided. Credential=` + sesKeyID + `/20260101/eu-west-1/ses/aws4_request"}`}})
	s := sesSender(t, a, nil)
	_, err := s.Send(testCtx(t), fullMessage())
	assertRefusal(t, err, "ses", 403, "SignatureDoesNotMatch: The request signature we calculated", sesKeyID, sesSecret)
	if !errors.Is(err, email.ErrUnauthorized) {
		t.Errorf("403 does not match ErrUnauthorized: %v", err)
	}
}

func TestSESTest(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		reply   reply
		wantErr string
	}{
		{"sending enabled", reply{Status: 200, Body: `{"SendingEnabled":true,"ProductionAccessEnabled":true,"EnforcementStatus":"HEALTHY"}`}, ""},
		{"sending paused", reply{Status: 200, Body: `{"SendingEnabled":false,"ProductionAccessEnabled":true,"EnforcementStatus":"SHUTDOWN"}`}, "sending is paused"},
		{"bad key", reply{Status: 403, Header: map[string]string{"X-Amzn-ErrorType": "UnrecognizedClientException"},
			Body: `{"message":"The security token included in the request is invalid."}`}, "UnrecognizedClientException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := newAPI(t, map[string]reply{"GET /v2/email/account": tc.reply})
			err := sesSender(t, a, nil).(integration.Tester).Test(testCtx(t))
			r := a.only(t)
			if r.Method != http.MethodGet || r.Path != "/v2/email/account" {
				t.Errorf("request = %s %s", r.Method, r.Path)
			}
			assertSigV4(t, r)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Test: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "ses") {
				t.Fatalf("Test = %v, want an ses error about %q", err, tc.wantErr)
			}
			assertNoSecrets(t, err.Error(), sesKeyID, sesSecret)
		})
	}
}
