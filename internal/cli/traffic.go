package cli

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/spf13/cobra"
)

// trafficOptions configure `tenantkit traffic`.
type trafficOptions struct {
	url        string
	baseDomain string
	jwtSecret  string
	rate       int
	workers    int
	users      int
	writeEvery int
	duration   time.Duration
	every      time.Duration
}

func newTraffic(e env, _ *globals) *cobra.Command {
	o := trafficOptions{}
	cmd := &cobra.Command{
		Use:   "traffic SLUG [--rate N] [--workers N] [--duration D]",
		Short: "Send HTTP requests to a tenant of the example app, as its users would",
		Long: "Send requests to a tenant of the example application through the server's tenant\n" +
			"pipeline — GET /api/orders, and every --write-every'th a POST /api/orders — at --rate\n" +
			"per second, naming the tenant by its subdomain (SLUG.--base-domain) or, with a JWT\n" +
			"secret, by a token whose sub is one of --users users. Every --every it prints what was\n" +
			"sent, answered, refused (429) and failed, with latencies. Watch it in tenantkit top.",
		Args: exactArgs(1, "one SLUG"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			return runTraffic(cmd.Context(), e, args[0], o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.url, "url", e.getenv("TENANTKIT_URL"), "the server's URL (env TENANTKIT_URL)")
	f.StringVar(&o.baseDomain, "base-domain", cmp.Or(e.getenv("TENANTKIT_BASE_DOMAIN"), "localhost"), "tenants are served on SLUG.BASE-DOMAIN (env TENANTKIT_BASE_DOMAIN)")
	f.StringVar(&o.jwtSecret, "jwt-secret", e.getenv("TENANTKIT_JWT_SECRET"), "HS256 secret to sign users' tokens with (env TENANTKIT_JWT_SECRET); default: no token")
	f.IntVar(&o.rate, "rate", 20, "requests per second, across all workers")
	f.IntVar(&o.workers, "workers", 4, "concurrent clients")
	f.IntVar(&o.users, "users", 10, "distinct users the tokens name")
	f.IntVar(&o.writeEvery, "write-every", 5, "every Nth request creates an order (0: never)")
	f.DurationVar(&o.duration, "duration", 0, "stop after this long (default: until Ctrl-C)")
	f.DurationVar(&o.every, "every", 2*time.Second, "how often to print a status line")
	return cmd
}

func (o trafficOptions) validate() error {
	u, err := url.Parse(o.url)
	switch {
	case o.url == "":
		return usageError{errors.New("traffic needs the server's URL: --url or TENANTKIT_URL " +
			"(with tenantkit dev: set -a; . .tenantkit/dev/dev.env; set +a)")}
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return usageError{fmt.Errorf("--url %q is not an http(s) URL", o.url)}
	case o.rate < 1 || o.rate > 100000:
		return usageError{errors.New("--rate must be between 1 and 100000")}
	case o.workers < 1 || o.workers > 1000:
		return usageError{errors.New("--workers must be between 1 and 1000")}
	case o.users < 1:
		return usageError{errors.New("--users must be at least 1")}
	case o.writeEvery < 0:
		return usageError{errors.New("--write-every must not be negative")}
	case o.duration < 0:
		return usageError{errors.New("--duration must not be negative")}
	case o.every <= 0:
		return usageError{errors.New("--every must be positive")}
	}
	return nil
}

// trafficStats are what the workers saw since the last status line.
type trafficStats struct {
	mu                        sync.Mutex
	latencies                 []time.Duration
	ok, refused, failed, sent atomic.Int64
}

func (s *trafficStats) add(d time.Duration) {
	s.mu.Lock()
	s.latencies = append(s.latencies, d)
	s.mu.Unlock()
}

// line prints and resets the interval's latencies.
func (s *trafficStats) line(w io.Writer, slug string, elapsed time.Duration) {
	s.mu.Lock()
	lat := s.latencies
	s.latencies = nil
	s.mu.Unlock()
	slices.Sort(lat)
	pct := func(p int) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[(len(lat)-1)*p/100]
	}
	fmt.Fprintf(w, "%s %6.1fs  sent %d  ok %d  refused %d  failed %d  p50 %v  p99 %v\n", slug, elapsed.Seconds(),
		s.sent.Load(), s.ok.Load(), s.refused.Load(), s.failed.Load(), pct(50).Round(100*time.Microsecond), pct(99).Round(100*time.Microsecond))
}

func runTraffic(ctx context.Context, e env, slug string, o trafficOptions) error {
	if o.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.duration)
		defer cancel()
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: o.workers}}
	tickets := make(chan int64, o.workers)
	go func() {
		defer close(tickets)
		tick := time.NewTicker(time.Second / time.Duration(o.rate))
		defer tick.Stop()
		for n := int64(1); ; n++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			select {
			case tickets <- n:
			case <-ctx.Done():
				return
			default: // workers are behind: the rate is what they can do
			}
		}
	}()
	st := &trafficStats{}
	var wg sync.WaitGroup
	for range o.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range tickets {
				st.sent.Add(1)
				start := time.Now()
				code, err := o.request(ctx, client, slug, n)
				switch {
				case err != nil:
					if ctx.Err() == nil {
						st.failed.Add(1)
					}
				case code == http.StatusTooManyRequests:
					st.refused.Add(1)
				case code >= 400:
					st.failed.Add(1)
				default:
					st.ok.Add(1)
					st.add(time.Since(start))
				}
			}
		}()
	}
	began := time.Now()
	status := time.NewTicker(o.every)
	defer status.Stop()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for {
		select {
		case <-status.C:
			st.line(e.stdout, slug, time.Since(began))
		case <-done:
			st.line(e.stdout, slug, time.Since(began))
			if st.ok.Load() == 0 && st.sent.Load() > 0 {
				return fmt.Errorf("no request to %s succeeded (%d refused, %d failed)", slug, st.refused.Load(), st.failed.Load())
			}
			return nil
		}
	}
}

// request sends request n: a write every writeEvery'th, else a read.
func (o trafficOptions) request(ctx context.Context, client *http.Client, slug string, n int64) (int, error) {
	method, body := http.MethodGet, []byte(nil)
	if o.writeEvery > 0 && n%int64(o.writeEvery) == 0 {
		method = http.MethodPost
		body = fmt.Appendf(nil, `{"customer_email":"c%d@example.com","customer_name":"Customer %d","items":[{"sku":"SKU-%d","quantity":1,"price_cents":1999}]}`, n%50, n%50, n%7)
	}
	req, err := http.NewRequestWithContext(ctx, method, o.url+"/api/orders", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Host = slug + "." + o.baseDomain
	if o.jwtSecret != "" {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
			"tenant_id": slug, "sub": fmt.Sprintf("user-%d", n%int64(o.users)), "exp": time.Now().Add(time.Hour).Unix(),
		}).SignedString([]byte(o.jwtSecret))
		if err != nil {
			return 0, err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode, nil
}
