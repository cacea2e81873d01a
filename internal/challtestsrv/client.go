package challtestsrv

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Client sets records through a pebble-challtestsrv's management API:
// `tenantkit dev dns` makes one of the URL in dev.env; a Server started
// here has its own.
type Client struct {
	// ManagementURL is the management API's base URL, http://host:port.
	// Required.
	ManagementURL string
	// HTTPClient makes the calls. Defaults to a client that gives up after
	// 5 seconds.
	HTTPClient *http.Client
}

// SetTXT makes name answer TXT queries with value alone, replacing what
// it held. The name is case-insensitive, with or without its final dot.
func (c *Client) SetTXT(ctx context.Context, name, value string) error {
	if value == "" {
		return errors.New("challtestsrv: a TXT value must not be empty")
	}
	if err := c.ClearTXT(ctx, name); err != nil {
		return err
	}
	return c.post(ctx, "/set-txt", map[string]string{"host": fqdn(name), "value": value})
}

// ClearTXT removes name's TXT values; clearing a name without any
// succeeds.
func (c *Client) ClearTXT(ctx context.Context, name string) error {
	if _, ok := dns.IsDomainName(name); !ok || strings.Trim(name, ".") == "" {
		return fmt.Errorf("challtestsrv: %q is not a DNS name", name)
	}
	return c.post(ctx, "/clear-txt", map[string]string{"host": fqdn(name)})
}

// fqdn is how the server keys its records: it compares names exactly, and
// DNS names are case-insensitive.
func fqdn(name string) string { return dns.Fqdn(strings.ToLower(name)) }

func (c *Client) post(ctx context.Context, path string, body any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	url := strings.TrimSuffix(c.ManagementURL, "/") + path
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("challtestsrv: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	hc := c.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 5 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("challtestsrv: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("challtestsrv: POST %s: %s %s", url, resp.Status, strings.TrimSpace(string(msg)))
	}
	return nil
}
