package client

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Config configures a Client. The zero value is a client of a local
// `tenantkit serve` without a token.
type Config struct {
	// BaseURL is the server's address, http(s)://host[:port], followed by
	// the path prefix the admin API is served under, if any. Defaults to
	// http://127.0.0.1:8080, where tenantkit serve listens.
	BaseURL string
	// Token is the admin API's bearer token. Defaults to none: only
	// Health and Ready answer without one.
	Token string
	// Actor names who acts, in at most 100 bytes, in the audit log
	// the server keeps of every change ("api:" + Actor). It is sent as the
	// X-Tenantkit-Actor header. Defaults to none: the audit log says "api".
	Actor string
	// HTTPClient sends the requests. Defaults to a client with a 30 s
	// timeout.
	HTTPClient *http.Client
	// MaxRetries is how many times a request is retried after its first
	// attempt, when retrying is safe (see the package documentation);
	// negative never retries. Defaults to 3.
	MaxRetries int
	// RetryWaitMin is the wait before the first retry of an answer without
	// Retry-After, or of a lost connection; it doubles at each retry, up
	// to RetryWaitMax. Defaults to 250 ms.
	RetryWaitMin time.Duration
	// RetryWaitMax is the longest wait before a retry. A server asking,
	// with Retry-After, for a longer wait is not retried: its *Error is
	// returned at once, with the wait it asked for in Error.RetryAfter.
	// Defaults to 30 s.
	RetryWaitMax time.Duration
}

// Defaults of Config.
const (
	defaultBaseURL      = "http://127.0.0.1:8080"
	defaultMaxRetries   = 3
	defaultRetryWaitMin = 250 * time.Millisecond
	defaultRetryWaitMax = 30 * time.Second
	defaultTimeout      = 30 * time.Second
	maxActor            = 100
)

func (cfg Config) validate() error {
	if cfg.BaseURL != "" {
		u, err := url.Parse(cfg.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
			u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("client: BaseURL %q must be http(s)://host[:port][/prefix]", cfg.BaseURL)
		}
	}
	if len(cfg.Actor) > maxActor {
		return fmt.Errorf("client: Actor must be at most %d bytes", maxActor)
	}
	if strings.ContainsFunc(cfg.Actor, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return errors.New("client: Actor must not hold control characters")
	}
	if cfg.RetryWaitMin < 0 || cfg.RetryWaitMax < 0 {
		return errors.New("client: RetryWaitMin and RetryWaitMax must not be negative")
	}
	return nil
}

// Client calls the admin API. It is safe for concurrent use.
type Client struct {
	base       string // BaseURL without its trailing slashes
	token      string
	actor      string
	http       *http.Client
	maxRetries int
	waitMin    time.Duration
	waitMax    time.Duration
}

// New returns a client of the admin API that cfg describes.
func New(cfg Config) (*Client, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	c := &Client{
		base: strings.TrimRight(cmp.Or(cfg.BaseURL, defaultBaseURL), "/"), token: cfg.Token, actor: strings.TrimSpace(cfg.Actor),
		http: cfg.HTTPClient, maxRetries: cfg.MaxRetries,
		waitMin: cmp.Or(cfg.RetryWaitMin, defaultRetryWaitMin), waitMax: cmp.Or(cfg.RetryWaitMax, defaultRetryWaitMax),
	}
	if c.http == nil {
		c.http = &http.Client{Timeout: defaultTimeout}
	}
	switch {
	case c.maxRetries == 0:
		c.maxRetries = defaultMaxRetries
	case c.maxRetries < 0:
		c.maxRetries = 0
	}
	return c, nil
}

// Health reports whether the server is up: nil when /healthz answers.
func (c *Client) Health(ctx context.Context) error {
	return c.send(ctx, request{method: http.MethodGet, path: "/healthz"}, nil)
}

// Ready reports whether the server can serve: nil when /readyz answers,
// an *Error of status 503 when the server cannot reach its catalog. It is
// never retried: an answer of not ready is what the caller asked for.
func (c *Client) Ready(ctx context.Context) error {
	return c.send(ctx, request{method: http.MethodGet, path: "/readyz", noRetry: true}, nil)
}

// OpenAPI returns the server's contract: the OpenAPI 3.1 document of the
// admin API it serves, which the client's types follow. A program can
// compare it with the one it was built against.
func (c *Client) OpenAPI(ctx context.Context) (json.RawMessage, error) {
	var doc json.RawMessage
	return doc, c.send(ctx, request{method: http.MethodGet, path: "/api/v1/openapi.json"}, &doc)
}

// request is one call of the API, which may be sent several times: its
// body is kept as bytes.
type request struct {
	method string
	path   string // escaped, after the base URL
	query  url.Values
	body   []byte // nil: no body
	header http.Header
	// noRetry sends the request once whatever the answer.
	noRetry bool
}

// call sends in (nil: no body) as JSON and decodes the answer into out
// (nil: discarded).
func (c *Client) call(ctx context.Context, method, path string, query url.Values, in, out any) error {
	r := request{method: method, path: path, query: query}
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("client: encoding the body of %s %s: %w", method, path, err)
		}
		r.body = b
		r.header = http.Header{"Content-Type": {"application/json"}}
	}
	return c.send(ctx, r, out)
}

// send makes r, retrying as the policy allows, and decodes a success into
// out (nil: discarded).
func (c *Client) send(ctx context.Context, r request, out any) error {
	for attempt := 0; ; attempt++ {
		err := c.once(ctx, r, out)
		wait, ok := c.retryWait(ctx, r, err, attempt)
		if !ok {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			// Both: the caller's reason to stop, and the answer that was
			// to be retried.
			return fmt.Errorf("client: %s %s: %w while waiting to retry after: %w", r.method, r.path, ctx.Err(), err)
		case <-t.C:
		}
	}
}

// once sends r one time. A failure is an *Error for an answer other than
// 2xx, or the transport's error wrapped.
func (c *Client) once(ctx context.Context, r request, out any) error {
	req, err := c.newRequest(ctx, r)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return &noAnswer{err}
	}
	defer func() {
		// Drain what is left so the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
	}()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return readError(resp, time.Now())
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("client: decoding the answer of %s %s: %w", r.method, r.path, err)
	}
	return nil
}

func (c *Client) newRequest(ctx context.Context, r request) (*http.Request, error) {
	u := c.base + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body) // sets GetBody too: redirects can resend it
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, body)
	if err != nil {
		return nil, fmt.Errorf("client: %s %s: %w", r.method, r.path, err)
	}
	for k, vs := range r.header {
		req.Header[k] = vs
	}
	req.Header.Set("Accept", "application/json, application/problem+json")
	req.Header.Set("User-Agent", "tenantkit-go-client")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.actor != "" {
		req.Header.Set("X-Tenantkit-Actor", c.actor)
	}
	return req, nil
}

// noAnswer is the error of a request that got no answer: the server was
// not reached, or the connection was lost before its answer came.
type noAnswer struct{ err error }

func (e *noAnswer) Error() string { return "client: no answer: " + e.err.Error() }
func (e *noAnswer) Unwrap() error { return e.err }

// query builds query parameters from name/value pairs, leaving out those
// with an empty value.
func query(kv ...string) url.Values {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			q.Set(kv[i], kv[i+1])
		}
	}
	return q
}
