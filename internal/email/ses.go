package email

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go"

	"github.com/tenantkit/tenantkit/internal/integration"
)

func sesSpec() integration.Spec {
	return integration.Spec{
		Type:        integration.Email,
		Provider:    ProviderSES,
		Description: "Amazon SES, through the SES v2 API.",
		Credentials: []integration.Field{
			{Name: "access_key_id", Required: true, Description: "IAM access key id allowed ses:SendEmail and ses:GetAccount."},
			{Name: "secret_access_key", Required: true, Description: "Its secret access key."},
		},
		Settings: []integration.Field{
			{Name: "region", Required: true, Description: "AWS region, such as eu-west-1."},
			{Name: "endpoint", Description: "API endpoint URL. Defaults to the region's SES endpoint."},
			{Name: "configuration_set", Description: "Configuration set to send with. Defaults to none."},
		},
	}
}

// ses sends through Amazon SES v2 SendEmail.
type ses struct {
	client           *sesv2.Client
	region           string
	endpoint         string
	configurationSet string
	secrets          []string
}

func newSES(cfg integration.Config) (sender, error) {
	s := &ses{
		region:           settingOr(cfg.Settings, "region", ""),
		endpoint:         settingOr(cfg.Settings, "endpoint", ""),
		configurationSet: settingOr(cfg.Settings, "configuration_set", ""),
		secrets:          secretValues(cfg),
	}
	opts := sesv2.Options{
		Region: s.region,
		Credentials: credentials.NewStaticCredentialsProvider(
			cfg.Credentials["access_key_id"], cfg.Credentials["secret_access_key"], ""),
		HTTPClient: cfg.Client(),
	}
	if s.endpoint != "" {
		u, err := url.Parse(s.endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, invalidSetting(ProviderSES, "endpoint", "must be an http(s) URL")
		}
		opts.BaseEndpoint = aws.String(s.endpoint)
	}
	s.client = sesv2.New(opts)
	return s, nil
}

func (s *ses) String() string {
	if s.endpoint != "" {
		return fmt.Sprintf("email ses %s %s", s.region, s.endpoint)
	}
	return "email ses " + s.region
}
func (s *ses) GoString() string { return s.String() }

func sesContent(data string) *types.Content {
	return &types.Content{Data: aws.String(data), Charset: aws.String("UTF-8")}
}

// input builds SendEmail's request: Simple content (SES v2 carries extra
// headers in Simple, so Raw is not needed), Text and, when set, Html.
func (s *ses) input(m Message) *sesv2.SendEmailInput {
	msg := &types.Message{
		Subject: sesContent(m.Subject),
		Body:    &types.Body{Text: sesContent(m.Text)},
	}
	if m.HTML != "" {
		msg.Body.Html = sesContent(m.HTML)
	}
	for _, name := range m.sortedHeaders() {
		msg.Headers = append(msg.Headers, types.MessageHeader{Name: aws.String(name), Value: aws.String(m.Headers[name])})
	}
	in := &sesv2.SendEmailInput{
		FromEmailAddress: aws.String(m.From.String()),
		Destination: &types.Destination{
			ToAddresses:  addressStrings(m.To),
			CcAddresses:  addressStrings(m.Cc),
			BccAddresses: addressStrings(m.Bcc),
		},
		Content: &types.EmailContent{Simple: msg},
	}
	if m.ReplyTo != nil {
		in.ReplyToAddresses = []string{m.ReplyTo.String()}
	}
	if m.Tag != "" {
		in.EmailTags = []types.MessageTag{{Name: aws.String("category"), Value: aws.String(m.Tag)}}
	}
	if s.configurationSet != "" {
		in.ConfigurationSetName = aws.String(s.configurationSet)
	}
	return in
}

// Send calls SendEmail and returns SES's MessageId.
func (s *ses) Send(ctx context.Context, m Message) (string, error) {
	if err := m.Validate(); err != nil {
		return "", err
	}
	out, err := s.client.SendEmail(ctx, s.input(m))
	if err != nil {
		return "", s.fail("send", err)
	}
	return aws.ToString(out.MessageId), nil
}

// Test calls GetAccount, which sends nothing, and fails when SES has
// paused sending for the account.
func (s *ses) Test(ctx context.Context) error {
	out, err := s.client.GetAccount(ctx, &sesv2.GetAccountInput{})
	if err != nil {
		return s.fail("test", err)
	}
	if !out.SendingEnabled {
		return &ProviderError{Provider: ProviderSES, Op: "test", Message: "sending is paused for this account"}
	}
	return nil
}

// fail turns an SDK error into a *ProviderError when SES answered, and a
// redacted error otherwise.
func (s *ses) fail(op string, err error) error {
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return redactError(fmt.Errorf("email ses: %s: %w", op, err), s.secrets)
	}
	pe := &ProviderError{Provider: ProviderSES, Op: op,
		Message: excerpt(apiErr.ErrorCode()+": "+apiErr.ErrorMessage(), s.secrets)}
	var respErr *awshttp.ResponseError
	if errors.As(err, &respErr) {
		pe.Status = respErr.HTTPStatusCode()
	}
	return pe
}
