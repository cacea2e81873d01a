package stripemock

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// DownBody is what the Proxy answers, with 503, while SetDown(true): an
// error in Stripe's shape, so clients parse it as they would a real outage.
const DownBody = `{"error":{"type":"api_error","message":"stripe-mock proxy: down"}}`

// maxBody bounds the request body the Proxy reads to record it. Stripe's
// form-encoded API calls are far smaller; file uploads go to another host.
const maxBody = 16 << 20

// Call is one request the Proxy received.
type Call struct {
	Method string
	Path   string
	// Query is the decoded query string, where GET and DELETE calls carry
	// their parameters.
	Query url.Values
	// Form is the decoded application/x-www-form-urlencoded body, where
	// POST calls carry their parameters (nil for any other body).
	Form           url.Values
	IdempotencyKey string // the Idempotency-Key header
	StripeVersion  string // the Stripe-Version header
	// Key is the API key the call was made with (the Authorization
	// header's bearer token).
	Key string
	// Status is the status answered: upstream's, 503 while down, an
	// override's, or 502 when upstream could not be reached. It is 0 while
	// the call is in flight.
	Status int
}

// Proxy is a reverse proxy on a loopback port in front of stripe-mock
// (or any Stripe API base URL) that records calls and injects faults. Its
// methods are safe for concurrent use.
type Proxy struct {
	upstream  *url.URL
	url       string
	srv       *http.Server
	transport *http.Transport
	rp        *httputil.ReverseProxy

	mu        sync.Mutex
	calls     []*Call
	down      bool
	overrides map[string]override // by method + " " + path
}

type override struct {
	status int
	body   string
}

type callKey struct{}

// NewProxy starts a Proxy to upstream, a base URL such as Server.URL(),
// on a free 127.0.0.1 port, until Close.
func NewProxy(upstream string) (*Proxy, error) {
	u, err := url.Parse(upstream)
	if err != nil {
		return nil, fmt.Errorf("stripemock: proxy upstream: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("stripemock: proxy upstream %q is not an http(s) base URL", upstream)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("stripemock: proxy listen: %w", err)
	}
	p := &Proxy{upstream: u, url: "http://" + ln.Addr().String(), overrides: map[string]override{}}
	// A transport of its own, so Close drops its idle connections and no
	// keep-alive connection outlives the Proxy.
	p.transport = http.DefaultTransport.(*http.Transport).Clone()
	p.transport.Proxy = nil // never send loopback test traffic to an HTTP_PROXY
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(p.upstream)
		},
		Transport:      p.transport,
		ModifyResponse: p.modifyResponse,
		ErrorHandler:   p.upstreamError,
	}
	p.srv = &http.Server{Handler: http.HandlerFunc(p.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.Serve(ln) }() // returns ErrServerClosed on Close
	return p, nil
}

// URL is the Proxy's base URL (http://127.0.0.1:port), to configure a
// Stripe client with.
func (p *Proxy) URL() string { return p.url }

// Close stops the Proxy, dropping any connection in progress.
func (p *Proxy) Close() error {
	err := p.srv.Close()
	p.transport.CloseIdleConnections()
	return err
}

// Calls returns a copy of the calls received since the start or the last
// Reset, in order of arrival.
func (p *Proxy) Calls() []Call {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Call, 0, len(p.calls))
	for _, c := range p.calls {
		out = append(out, copyCall(c))
	}
	return out
}

// CallsTo returns the calls with method (any when "") whose path starts
// with pathPrefix.
func (p *Proxy) CallsTo(method, pathPrefix string) []Call {
	var out []Call
	for _, c := range p.Calls() {
		if (method == "" || c.Method == method) && strings.HasPrefix(c.Path, pathPrefix) {
			out = append(out, c)
		}
	}
	return out
}

// Reset forgets the calls received so far.
func (p *Proxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = nil
}

// SetDown makes the Proxy answer every request with 503 and DownBody
// (still recording it) until SetDown(false), as Stripe does in an outage.
func (p *Proxy) SetDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
}

// Override makes the Proxy answer requests with exactly this method and
// path (the query is not compared) with status and a JSON body instead of
// forwarding them: for instance 404 and a resource_missing error, for an
// object that stripe-mock, which finds every id, cannot be made to lack.
// SetDown takes precedence.
func (p *Proxy) Override(method, path string, status int, body string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.overrides[method+" "+path] = override{status: status, body: body}
}

// ClearOverrides removes every Override.
func (p *Proxy) ClearOverrides() {
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(p.overrides)
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		http.Error(w, "stripe-mock proxy: read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	if len(body) > maxBody {
		http.Error(w, "stripe-mock proxy: body too large", http.StatusRequestEntityTooLarge)
		return
	}
	// The body was consumed to record it: forward the same bytes.
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }

	c := &Call{
		Method:         r.Method,
		Path:           r.URL.Path,
		Query:          r.URL.Query(),
		IdempotencyKey: r.Header.Get("Idempotency-Key"),
		StripeVersion:  r.Header.Get("Stripe-Version"),
		Key:            strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "),
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err == nil && mt == "application/x-www-form-urlencoded" {
		// A body that does not parse is still forwarded, for stripe-mock
		// to reject; Form keeps what parsed.
		c.Form, _ = url.ParseQuery(string(body))
	}

	// The call is recorded, and its status set, before the answer is
	// written: a client that has its answer finds the call in Calls.
	p.mu.Lock()
	p.calls = append(p.calls, c)
	ov, overridden := p.overrides[r.Method+" "+r.URL.Path]
	if p.down {
		ov, overridden = override{status: http.StatusServiceUnavailable, body: DownBody}, true
	}
	if overridden {
		c.Status = ov.status
	}
	p.mu.Unlock()

	if overridden {
		writeJSON(w, ov.status, ov.body)
		return
	}
	p.rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callKey{}, c)))
}

func (p *Proxy) modifyResponse(resp *http.Response) error {
	p.setStatus(resp.Request.Context(), resp.StatusCode)
	return nil
}

// upstreamError answers 502 with a Stripe-shaped error when upstream
// cannot be reached (stripe-mock stopped, say), so clients report an API
// error rather than a JSON parse failure.
func (p *Proxy) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) {
		// The client went away; nobody reads the answer.
		p.setStatus(r.Context(), 499)
		return
	}
	p.setStatus(r.Context(), http.StatusBadGateway)
	body, _ := json.Marshal(map[string]any{"error": map[string]string{
		"type": "api_error", "message": "stripe-mock proxy: upstream: " + err.Error()}})
	writeJSON(w, http.StatusBadGateway, string(body))
}

func (p *Proxy) setStatus(ctx context.Context, status int) {
	c, _ := ctx.Value(callKey{}).(*Call)
	if c == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	c.Status = status
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func copyCall(c *Call) Call {
	out := *c
	out.Query = cloneValues(c.Query)
	out.Form = cloneValues(c.Form)
	return out
}

func cloneValues(v url.Values) url.Values {
	if v == nil {
		return nil
	}
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}
