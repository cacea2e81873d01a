package email

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// userAgent names tenantkit to the providers; Resend, for one, refuses
// requests without a User-Agent.
const userAgent = "tenantkit-email/1"

// maxResponse bounds how much of a provider's answer is read.
const maxResponse = 1 << 20

// httpAPI is what the HTTP providers share: where the API is, how to
// authenticate, how to read the provider's error bodies, and which values
// must never show in an error.
type httpAPI struct {
	provider string
	base     *url.URL
	client   *http.Client
	// auth sets the credential header on every request.
	auth func(http.Header)
	// errorText pulls the provider's message out of an error body; ""
	// when it cannot, and the raw body is used.
	errorText func(body []byte) string
	secrets   []string
}

type apiResponse struct {
	status int
	header http.Header
	body   []byte
}

// call sends in (JSON, when not nil) to path and returns the response.
// A status outside 2xx returns the response and a *ProviderError.
func (a *httpAPI) call(ctx context.Context, op, method, path string, in any) (apiResponse, error) {
	req, err := a.request(ctx, method, path, in)
	if err != nil {
		return apiResponse{}, a.fail(op, err)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return apiResponse{}, a.fail(op, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return apiResponse{}, a.fail(op, fmt.Errorf("read response: %w", err))
	}
	out := apiResponse{status: resp.StatusCode, header: resp.Header, body: body}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return out, a.refusal(op, resp.StatusCode, body)
	}
	return out, nil
}

func (a *httpAPI) request(ctx context.Context, method, path string, in any) (*http.Request, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base.String()+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	a.auth(req.Header)
	return req, nil
}

// refusal builds the error for a provider's non-2xx answer.
func (a *httpAPI) refusal(op string, status int, body []byte) error {
	msg := ""
	if a.errorText != nil {
		msg = a.errorText(body)
	}
	if msg == "" {
		msg = string(body)
	}
	return &ProviderError{Provider: a.provider, Op: op, Status: status, Message: excerpt(msg, a.secrets)}
}

// fail wraps a transport error with the provider and operation, without
// credentials.
func (a *httpAPI) fail(op string, err error) error {
	return redactError(fmt.Errorf("email %s: %s: %w", a.provider, op, err), a.secrets)
}

// decode reads a 2xx JSON body into out.
func (a *httpAPI) decode(op string, r apiResponse, out any) error {
	if err := json.Unmarshal(r.body, out); err != nil {
		return &ProviderError{Provider: a.provider, Op: op, Status: r.status,
			Message: excerpt("unreadable response: "+string(r.body), a.secrets)}
	}
	return nil
}
